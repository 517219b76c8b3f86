# What `cmake --install` puts where, besides the binaries (their install() rules live next to
# their targets). Included at the end of the top-level CMakeLists.txt, after every target
# exists. Debian's package (debian/rules) uses exactly these rules; see packaging/build-deb.
include(GNUInstallDirs)

# The systemd unit goes where systemd looks for package units: pkg-config's answer when the
# prefix is systemd's own, else under the prefix (so a /usr/local install stays there).
set(KG_SYSTEMD_UNITDIR "" CACHE PATH "Directory for kidguard.service (empty: guess)")
if(NOT KG_SYSTEMD_UNITDIR)
	pkg_get_variable(KG__SD_UNITDIR systemd systemdsystemunitdir)
	if(KG__SD_UNITDIR AND CMAKE_INSTALL_PREFIX STREQUAL "/usr")
		set(KG_SYSTEMD_UNITDIR ${KG__SD_UNITDIR})
	else()
		set(KG_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
	endif()
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/kidguard.service DESTINATION ${KG_SYSTEMD_UNITDIR})

# The default configuration (a conffile in the Debian package) and the examples.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/kidguard.conf
	DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/kidguard)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/examples/home-router.conf
	${PROJECT_SOURCE_DIR}/packaging/examples/isp-family.conf
	${PROJECT_SOURCE_DIR}/packaging/examples/desk.conf
	DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Manual pages: hand-written roff, with the version filled in from project().
set(KG_MAN_PAGES kidguard.8 kidguard-ctl.8 kidguard.conf.5)
if(TARGET kidguard-feed)
	list(APPEND KG_MAN_PAGES kidguard-feed.1)
endif()
if(TARGET kidguard-desk)
	list(APPEND KG_MAN_PAGES kidguard-desk.1)
endif()
foreach(page ${KG_MAN_PAGES})
	string(REGEX REPLACE ".*\\.([0-9])$" "\\1" sect ${page})
	configure_file(${PROJECT_SOURCE_DIR}/docs/man/${page} ${PROJECT_BINARY_DIR}/man/${page}
		@ONLY)
	install(FILES ${PROJECT_BINARY_DIR}/man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect})
endforeach()

# Data the daemon reads at run time (the safe-search host table): /usr/share/kidguard, where
# resolver/ looks first (KG_SHARE_DIR).
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/packaging/data)
	install(DIRECTORY ${PROJECT_SOURCE_DIR}/packaging/data/
		DESTINATION ${CMAKE_INSTALL_DATADIR}/kidguard)
endif()

# The dashboard's static files, when the resolver has them.
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/resolver/http/www)
	# (not i18n/: the message catalogues are compiled into kidguard, which serves them)
	install(DIRECTORY ${PROJECT_SOURCE_DIR}/resolver/http/www/
		DESTINATION ${CMAKE_INSTALL_DATADIR}/kidguard/www PATTERN i18n EXCLUDE)
endif()
