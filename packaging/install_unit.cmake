# install_unit.cmake -- run by `cmake --install` (CMakeLists.txt): writes
# carematchd.service with ExecStart at the carematchd of this installation
# (the install-time prefix, so `--prefix` is honoured; DESTDIR too) and
# installs it. In: CM_UNIT_IN (the template, @CM_UNIT_BINDIR@ in it),
# CM_UNIT_OUT (where to write it in the build tree), CM_UNIT_BINDIR
# (CMAKE_INSTALL_BINDIR), CM_UNIT_DIR (the unit directory); relative paths
# are under the prefix.
if(NOT IS_ABSOLUTE "${CM_UNIT_BINDIR}")
  set(CM_UNIT_BINDIR "${CMAKE_INSTALL_PREFIX}/${CM_UNIT_BINDIR}")
endif()
if(NOT IS_ABSOLUTE "${CM_UNIT_DIR}")
  set(CM_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/${CM_UNIT_DIR}")
endif()
configure_file("${CM_UNIT_IN}" "${CM_UNIT_OUT}" @ONLY)
file(INSTALL DESTINATION "${CM_UNIT_DIR}" TYPE FILE FILES "${CM_UNIT_OUT}")
