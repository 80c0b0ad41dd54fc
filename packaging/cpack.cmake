# packaging/cpack.cmake: the system files of the package (config, unit, state
# folder, man page, docs) and the CPack setup of the .deb and the .rpm.
# Included at the end of the top-level CMakeLists.txt.
#
#   cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DAGENT_TESTS=OFF
#   cmake --build build-pkg --target package     # .deb, and .rpm when rpmbuild exists
#   (cd build-pkg && cpack -G DEB)                 # one format only
#
# The .rpm is built on whatever machine runs cpack and links that machine's
# libraries: build it on the target distribution (Amazon Linux 2023, RHEL 9,
# Fedora) for a package that installs there; rpmbuild's automatic soname
# requirements come on top of the package names declared below.
#
# Paths are absolute on purpose: the agent's defaults are /etc/wcs-agent and
# /var/lib/wcs-agent whatever CMAKE_INSTALL_PREFIX is.

# A placeholder address on a reserved domain (RFC 2606): set the real one when building
# packages for distribution.  Never root or a local host (lintian: root-in-contact,
# bogus-mail-host).
set(AGENT_PACKAGE_CONTACT "wcs-agent maintainers <wcs-agent@example.org>"
    CACHE STRING "Maintainer of the .deb and .rpm (name <email>)")
set(AGENT_PACKAGE_LICENSE "TBD" CACHE STRING "Licence tag of the .rpm")

set(AGENT_PKG_SRC ${CMAKE_CURRENT_LIST_DIR})
set(AGENT_PKG_TEMPLATES ${CMAKE_SOURCE_DIR}/templates)
set(AGENT_PKG_DOC share/doc/wcs-agent)

# /etc/wcs-agent/agent.ini: the fully commented default (a conffile); 0640
# because an operator may add literal values to it.
install(FILES ${AGENT_PKG_TEMPLATES}/agent.ini DESTINATION /etc/wcs-agent
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(DIRECTORY DESTINATION /etc/wcs-agent/conf.d
    DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
# State, lock and download cache: root only.
install(DIRECTORY DESTINATION /var/lib/wcs-agent
    DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
# /usr/lib/systemd/system serves both Debian 12 (merged /usr) and the rpm distributions.
install(FILES ${AGENT_PKG_SRC}/systemd/wcs-agent.service
    ${AGENT_PKG_SRC}/systemd/wcs-agent-watch.service DESTINATION lib/systemd/system
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The man pages, gzipped as both distributions ship them (gzip -n: reproducible).
find_program(AGENT_GZIP gzip)
foreach(page wcs-agent.8 wcs-agent.ini.5)
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
    if(AGENT_GZIP)
        add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/${page}.gz
            COMMAND ${AGENT_GZIP} -9 -n -c ${AGENT_PKG_SRC}/${page} > ${CMAKE_BINARY_DIR}/${page}.gz
            DEPENDS ${AGENT_PKG_SRC}/${page}
            COMMENT "Compressing the man page ${page}" VERBATIM)
        list(APPEND AGENT_MAN_GZ ${CMAKE_BINARY_DIR}/${page}.gz)
        install(FILES ${CMAKE_BINARY_DIR}/${page}.gz DESTINATION share/man/man${section})
    else()
        install(FILES ${AGENT_PKG_SRC}/${page} DESTINATION share/man/man${section})
    endif()
endforeach()
if(AGENT_GZIP)
    add_custom_target(wcs-agent-man ALL DEPENDS ${AGENT_MAN_GZ})
endif()

# The project's reference (packaging/doc/): configuration, state and exit codes, operations,
# the code layout.
install(DIRECTORY ${AGENT_PKG_SRC}/doc/ DESTINATION ${AGENT_PKG_DOC}
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

install(FILES ${AGENT_PKG_SRC}/copyright ${CMAKE_SOURCE_DIR}/README.md
    DESTINATION ${AGENT_PKG_DOC})
# The Debian changelog (a native package: changelog.gz), gzip -n for reproducible bytes.
configure_file(${AGENT_PKG_SRC}/changelog.in ${CMAKE_BINARY_DIR}/packaging/changelog @ONLY)
if(AGENT_GZIP)
    add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
        COMMAND ${AGENT_GZIP} -9 -n -c ${CMAKE_BINARY_DIR}/packaging/changelog
            > ${CMAKE_BINARY_DIR}/packaging/changelog.gz
        DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog
        COMMENT "Compressing the changelog" VERBATIM)
    add_custom_target(wcs-agent-changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
    install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz DESTINATION ${AGENT_PKG_DOC})
endif()
install(DIRECTORY ${AGENT_PKG_TEMPLATES}/user-data ${AGENT_PKG_TEMPLATES}/iam
    ${AGENT_PKG_TEMPLATES}/cloudformation
    DESTINATION ${AGENT_PKG_DOC}/examples)

# CPack: common fields.
set(CPACK_PACKAGE_NAME wcs-agent)
set(CPACK_PACKAGE_VENDOR "wcs-agent")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${AGENT_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "bootstrap agent for Flashphoner Web Call Server nodes on AWS EC2")
set(CPACK_PACKAGE_DESCRIPTION
    "wcs-agent turns a freshly booted EC2 instance into an in-service Flashphoner
Web Call Server (WCS) node behind a load balancer: it reads the instance facts
and user data through IMDSv2, resolves secrets, updates and configures WCS,
activates the licence, builds the TLS keystore, restarts WCS, waits until it
is ready, registers the instance with its load balancers and signals the Auto
Scaling lifecycle hook and CloudFormation. WCS itself is not included.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
# Absolute /etc and /var paths: not relocatable.
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
set(CPACK_GENERATOR DEB)
find_program(AGENT_RPMBUILD rpmbuild)
if(AGENT_RPMBUILD)
    list(APPEND CPACK_GENERATOR RPM)
endif()
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "__pycache__")

# .deb
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libcurl4 (>= 7.74.0), libssl3 (>= 3.0.0), libinih1 (>= 55), libcjson1 (>= 1.7.15), libexpat1 (>= 2.2.0), zlib1g")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "awscli")
set(AGENT_DEB_CONTROL ${CMAKE_BINARY_DIR}/packaging/deb)
file(MAKE_DIRECTORY ${AGENT_DEB_CONTROL})
file(WRITE ${AGENT_DEB_CONTROL}/conffiles "/etc/wcs-agent/agent.ini\n")
foreach(script postinst prerm postrm)
    configure_file(${AGENT_PKG_SRC}/scripts/${script} ${AGENT_DEB_CONTROL}/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${AGENT_DEB_CONTROL}/conffiles
    ${AGENT_DEB_CONTROL}/postinst ${AGENT_DEB_CONTROL}/prerm ${AGENT_DEB_CONTROL}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# .rpm
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "${AGENT_PACKAGE_LICENSE}")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_RPM_PACKAGE_REQUIRES
    "libcurl >= 7.74.0, openssl-libs >= 3.0.0, inih >= 55, cjson >= 1.7.15, expat >= 2.2.0, zlib")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${AGENT_PKG_SRC}/scripts/postinst)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${AGENT_PKG_SRC}/scripts/prerm)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${AGENT_PKG_SRC}/scripts/postrm)
set(CPACK_RPM_USER_FILELIST
    "%config(noreplace) %attr(0640,root,root) /etc/wcs-agent/agent.ini"
    "%dir %attr(0750,root,root) /etc/wcs-agent/conf.d"
    "%dir %attr(0700,root,root) /var/lib/wcs-agent")
# Folders owned by the filesystem and systemd packages, not by this one.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /var /var/lib /usr/lib/systemd /usr/lib/systemd/system /usr/share/man /usr/share/man/man8
    /usr/share/man/man5)

include(CPack)
