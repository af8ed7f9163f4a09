# SPDX-License-Identifier: Apache-2.0
# Packaging checks, one per MODE, each in its own WORK_DIR (fails on any step's non-zero exit):
#   find_package      installs the build to a temporary prefix; builds and runs
#                     tests/packaging/consumer with find_package(logitkit).
#   add_subdirectory  builds and runs the consumer with add_subdirectory(<source tree>).
#   pkg_config        installs; compiles consumer.cc with `pkg-config --cflags --libs logitkit`
#                     and runs it; with HAVE_MPI also consumer_mpi.cc with logitkit-mpi, run on
#                     2 ranks when MPIEXEC is given.
#   installed_cli     installs, moves the prefix elsewhere, and runs the installed `logitkit`
#                     command with LD_LIBRARY_PATH unset: it must find its library by RPATH.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
# run(<command...>): runs it without LD_LIBRARY_PATH; stdout into `run_out`.
function(run)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()
set(consumer_dir ${LOGITKIT_SOURCE_DIR}/tests/packaging/consumer)

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${LOGITKIT_BINARY_DIR} --prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} -S ${consumer_dir} -B ${WORK_DIR}/build
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCONSUMER_MODE=find_package)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
  run(${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "add_subdirectory")
  # The subproject is compiled for Highway's portable target only (LOGITKIT_DISABLED_TARGETS):
  # what is checked is the add_subdirectory integration; the kernels of every target are
  # compiled and tested by the main build.
  run(${CMAKE_COMMAND} -S ${consumer_dir} -B ${WORK_DIR}/build
      -DCONSUMER_MODE=add_subdirectory -DLOGITKIT_SOURCE_DIR=${LOGITKIT_SOURCE_DIR}
      "-DLOGITKIT_DISABLED_TARGETS=(HWY_SSSE3|HWY_SSE4|HWY_AVX2|HWY_AVX3)")
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
  run(${WORK_DIR}/build/consumer)
elseif(MODE STREQUAL "pkg_config")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${LOGITKIT_BINARY_DIR} --prefix ${prefix})
  set(pc_dir ${prefix}/${INSTALL_LIBDIR}/pkgconfig)
  if(NOT EXISTS ${pc_dir}/logitkit.pc)
    message(FATAL_ERROR "no logitkit.pc in ${pc_dir}")
  endif()
  set(modules logitkit)
  if(HAVE_MPI)
    list(APPEND modules logitkit-mpi)
  endif()
  foreach(module IN LISTS modules)
    # PKG_CONFIG_PATH puts the installed files first.
    run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} ${PKG_CONFIG} --modversion ${module})
    message(STATUS "${module} ${run_out}")
    run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} ${PKG_CONFIG} --cflags --libs ${module})
    string(STRIP "${run_out}" flags)
    message(STATUS "pkg-config --cflags --libs ${module}: ${flags}")
    # The flags must point into this prefix (not the build tree, not the configured prefix).
    file(REAL_PATH ${prefix} real_prefix)
    string(FIND "${flags}" "-llogitkit" has_lib)
    if(has_lib EQUAL -1)
      message(FATAL_ERROR "pkg-config ${module} gives no -llogitkit: ${flags}")
    endif()
    separate_arguments(flag_list UNIX_COMMAND "${flags}")
    set(points_into_prefix OFF)
    foreach(flag IN LISTS flag_list)
      if(flag MATCHES "^-L(.*)$")
        file(REAL_PATH "${CMAKE_MATCH_1}" dir)
        if(dir STREQUAL "${real_prefix}/${INSTALL_LIBDIR}")
          set(points_into_prefix ON)
        endif()
      endif()
    endforeach()
    if(NOT points_into_prefix)
      message(FATAL_ERROR "pkg-config ${module}: no -L to ${real_prefix}/${INSTALL_LIBDIR}: ${flags}")
    endif()
    if(module STREQUAL "logitkit")
      set(source ${consumer_dir}/consumer.cc)
    else()
      set(source ${consumer_dir}/consumer_mpi.cc)
    endif()
    set(exe ${WORK_DIR}/${module}-consumer)
    run(${CXX} -std=c++20 ${source} -o ${exe} ${flag_list}
        -Wl,-rpath,${prefix}/${INSTALL_LIBDIR})
    if(module STREQUAL "logitkit")
      run(${exe})
    elseif(MPIEXEC)
      # Two ranks (root allowed: CI containers run as root), as tests/mpi runs them.
      run(${MPIEXEC} --allow-run-as-root --oversubscribe --mca btl self,vader,tcp -np 2 ${exe})
      message(STATUS "${run_out}")
    endif()
  endforeach()
elseif(MODE STREQUAL "installed_cli")
  # Install, then move the whole prefix: only a relative RPATH ($ORIGIN/..) still finds the library.
  run(${CMAKE_COMMAND} --install ${LOGITKIT_BINARY_DIR} --prefix ${WORK_DIR}/staging)
  file(RENAME ${WORK_DIR}/staging ${WORK_DIR}/moved)
  set(cli ${WORK_DIR}/moved/${INSTALL_BINDIR}/logitkit)
  run(${cli} softmax 2 1 0.1 -1)
  string(STRIP "${run_out}" got)
  set(want "0.638066351 0.234731495 0.0954347029 0.0317674503")
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "installed logitkit softmax 2 1 0.1 -1 printed '${got}', expected '${want}'")
  endif()
  run(${cli} targets)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
