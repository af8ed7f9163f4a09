# SPDX-License-Identifier: Apache-2.0
# Writes and installs logitkit.pc (and logitkit-mpi.pc when logitkit_mpi is built) beside the
# CMake package, in ${CMAKE_INSTALL_LIBDIR}/pkgconfig. The files locate the prefix from their own
# place (${pcfiledir}), so `cmake --install build --prefix <any>` gives working files.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(LOGITKIT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(LOGITKIT_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(LOGITKIT_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _lk_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _lk_pc_up "${_lk_pc_up}")
  set(LOGITKIT_PC_PREFIX "\${pcfiledir}/${_lk_pc_up}")
  set(LOGITKIT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(LOGITKIT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# What a static liblogitkit needs besides itself (pkg-config --static); a shared one links them.
set(LOGITKIT_PC_REQUIRES_PRIVATE "")
set(LOGITKIT_PC_LIBS_PRIVATE "-pthread")
if(LOGITKIT_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(LOGITKIT_PC_REQUIRES_PRIVATE "libhwy")
  if(LOGITKIT_OPENBLAS_FOUND)
    string(APPEND LOGITKIT_PC_REQUIRES_PRIVATE " openblas")
  elseif(BLAS_FOUND AND LOGITKIT_CBLAS_INCLUDE_DIR)
    list(JOIN BLAS_LIBRARIES " " _lk_pc_blas)
    string(APPEND LOGITKIT_PC_LIBS_PRIVATE " ${_lk_pc_blas}")
  endif()
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/logitkit.pc.in ${PROJECT_BINARY_DIR}/logitkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/logitkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(LOGITKIT_HAVE_MPI)
  # The MPI flags as CMake found them (any MPI implementation, not only those with a .pc file).
  set(LOGITKIT_PC_MPI_CFLAGS "")
  foreach(_lk_dir IN LISTS MPI_CXX_INCLUDE_DIRS)
    string(APPEND LOGITKIT_PC_MPI_CFLAGS " -I${_lk_dir}")
  endforeach()
  foreach(_lk_def IN LISTS MPI_CXX_COMPILE_DEFINITIONS)
    string(APPEND LOGITKIT_PC_MPI_CFLAGS " -D${_lk_def}")
  endforeach()
  foreach(_lk_opt IN LISTS MPI_CXX_COMPILE_OPTIONS)
    string(APPEND LOGITKIT_PC_MPI_CFLAGS " ${_lk_opt}")
  endforeach()
  list(JOIN MPI_CXX_LIBRARIES " " LOGITKIT_PC_MPI_LIBS)
  string(STRIP "${LOGITKIT_PC_MPI_CFLAGS}" LOGITKIT_PC_MPI_CFLAGS)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/logitkit-mpi.pc.in
    ${PROJECT_BINARY_DIR}/logitkit-mpi.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/logitkit-mpi.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
