# SPDX-License-Identifier: Apache-2.0
# Builds and runs tests/packaging/consumer against an installed logitkit (MODE=find_package) or
# the source tree (MODE=add_subdirectory). Fails on any step's non-zero exit.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${LOGITKIT_BINARY_DIR} --prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} -S ${LOGITKIT_SOURCE_DIR}/tests/packaging/consumer -B ${WORK_DIR}/build
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCONSUMER_MODE=find_package)
else()
  run(${CMAKE_COMMAND} -S ${LOGITKIT_SOURCE_DIR}/tests/packaging/consumer -B ${WORK_DIR}/build
      -DCONSUMER_MODE=add_subdirectory -DLOGITKIT_SOURCE_DIR=${LOGITKIT_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
run(${WORK_DIR}/build/consumer)
