# The desk's classifier (issue 18): static library kgdesk_model (dk_model.h) and dk-eval, its
# held-out evaluation. liblinear ships no pkg-config file on Debian: found by name.
find_library(LINEAR_LIB linear REQUIRED)
find_path(LINEAR_INCLUDE linear.h REQUIRED)
add_library(LINEAR UNKNOWN IMPORTED)
set_target_properties(LINEAR PROPERTIES IMPORTED_LOCATION ${LINEAR_LIB}
	INTERFACE_INCLUDE_DIRECTORIES ${LINEAR_INCLUDE})

add_library(kgdesk_model STATIC ${CMAKE_CURRENT_LIST_DIR}/dk_model.c
	${CMAKE_CURRENT_LIST_DIR}/dk_features.c ${CMAKE_CURRENT_LIST_DIR}/dk_eval.c)
target_include_directories(kgdesk_model PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(kgdesk_model PUBLIC LINEAR m PRIVATE kgblocklist) # bl_name_registrable

add_executable(dk-eval ${CMAKE_CURRENT_LIST_DIR}/dk_eval_main.c)
target_link_libraries(dk-eval PRIVATE kgdesk_model)
