# What `cmake --install` puts in place for users (issues 5, 19): the daemon and the tool, the
# client headers, libchorus (shared and static) and the same library under Spread's names
# (libspread, libspread-core, libtspread-core: .so.3 and .a), a CMake package (find_package(Chorus)
# gives Chorus::chorus, Chorus::chorus_static, Chorus::spread-core, ...) and pkg-config files
# (chorus, spread, spread-core, tspread-core; --static for the archives).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS chorusd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET chorus)
  install(TARGETS chorus RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES include/sp.h include/sp_func.h include/sp_events.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/chorus DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS chorus_shared chorus_client ${CHORUS_SPREAD_TARGETS} EXPORT ChorusTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ChorusTargets NAMESPACE Chorus:: FILE ChorusTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Chorus)
configure_package_config_file(cmake/ChorusConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/ChorusConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Chorus)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/ChorusConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ChorusConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/ChorusConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Chorus)
# Relocatable: the prefix is found from the .pc file's own place (cmake --install --prefix).
file(RELATIVE_PATH CHORUS_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
set(CHORUS_PC_NAME chorus)
set(CHORUS_PC_LIB chorus)
set(CHORUS_PC_DESCRIPTION "Chorus group communication client library (C++ chorus/client.hpp, Spread's C sp.h) and chorus::shm (chorus/shm.hpp)")
configure_file(cmake/chorus.pc.in ${CMAKE_CURRENT_BINARY_DIR}/chorus.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/chorus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# The same library under Spread's names: pkg-config spread, spread-core, tspread-core.
foreach(name ${CHORUS_SPREAD_NAMES})
  set(CHORUS_PC_NAME ${name})
  set(CHORUS_PC_LIB ${name})
  set(CHORUS_PC_DESCRIPTION "Chorus's client library under Spread's name lib${name} (sp.h, sp_events.h)")
  configure_file(cmake/chorus.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${name}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
# Spread 4.2+ programs link libspread-core.a with libspread-util.a (events and logging). Here the
# event library is in every library already, so libspread-util.a is a linker script naming what a
# C program needs besides: the C++ runtime the library is written against.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/libspread-util.a
     "/* Chorus: Spread's libspread-util; the event library is in libspread-core itself. */\n"
     "INPUT ( -lstdc++ -lm )\n")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/libspread-util.a DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
