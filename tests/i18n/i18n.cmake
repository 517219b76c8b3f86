# The message catalogues are complete in every language (issue 17): the JSON catalogues of the
# dashboard and the server's pages (with every "error.*" key the daemon's API answers with),
# and kidguard-ctl's po/*.po.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
	add_test(NAME unit_i18n_catalogues
		COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_catalogues.py
		--po-dir ${CMAKE_SOURCE_DIR}/po --c-keys)
	# The publisher's Desk page (tools/desk/www/i18n): the same keys in English and Vietnamese.
	add_test(NAME unit_i18n_desk_catalogues
		COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_catalogues.py
		--www ${CMAKE_SOURCE_DIR}/tools/desk/www --http ${CMAKE_SOURCE_DIR}/tools/desk --c-keys)
endif()
