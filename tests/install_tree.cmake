# ctest setup step: installs the built project into PREFIX with
#   cmake --install BUILD_DIR --prefix PREFIX
# and checks that the pieces a consumer needs are there.
#   cmake -DBUILD_DIR=<build> -DPREFIX=<dir> -P install_tree.cmake
if(NOT BUILD_DIR OR NOT PREFIX)
  message(FATAL_ERROR "usage: cmake -DBUILD_DIR=<build> -DPREFIX=<dir> -P install_tree.cmake")
endif()
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}\n${err}")
endif()

set(missing "")
foreach(pattern include/qstore/qstore.h lib*/libqstore.so lib*/libqstore.so.1 lib*/libqstore.a
        lib*/pkgconfig/qstore.pc lib*/cmake/qstore/qstoreConfig.cmake lib*/cmake/qstore/qstoreConfigVersion.cmake
        lib*/cmake/qstore/qstoreTargets.cmake)
  file(GLOB_RECURSE found "${PREFIX}/${pattern}")
  if(NOT found)
    # lib may be lib/<multiarch>/...
    string(REPLACE "lib*/" "lib*/*/" deeper "${pattern}")
    file(GLOB found "${PREFIX}/${deeper}")
  endif()
  if(NOT found)
    list(APPEND missing "${pattern}")
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "installed tree ${PREFIX} lacks: ${missing}")
endif()
message(STATUS "installed into ${PREFIX}")
