# What `cmake --install` puts in place for users (issue 5): the daemon and the tool, the client
# headers, libchorus (shared and static), a CMake package (find_package(Chorus) gives
# Chorus::chorus and Chorus::chorus_static) and a pkg-config file (pkg-config --cflags --libs
# chorus, or --static for the archive).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS chorusd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET chorus)
  install(TARGETS chorus RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES include/sp.h include/sp_events.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/chorus DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS chorus_shared chorus_client EXPORT ChorusTargets
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
configure_file(cmake/chorus.pc.in ${CMAKE_CURRENT_BINARY_DIR}/chorus.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/chorus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
