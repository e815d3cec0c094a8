# Installation layout and the .deb (cpack -G DEB in the build directory).
#   /usr/bin/yktgw, yktgw-sim, ykt-platform-sim
#   /etc/yktgw/yktgw.toml (root:yktgw 0640), policies.toml, service-items.toml   (conffiles)
#   /etc/yktgw/keys/                                           (made by postinst, per box)
#   /etc/yktgw/mosquitto/                                      (broker config for the terminals)
#   /lib/systemd/system/yktgw.service, yktgw-mosquitto.service
#   /usr/share/doc/yktgw/                                      (README and docs/)

# The installed example config names its keys under /etc/yktgw/keys/, which the package's
# postinst fills with keys of this box; the development keys of the source tree never ship.
file(READ ${CMAKE_SOURCE_DIR}/config/yktgw.toml YKTGW_EXAMPLE_CONFIG)
string(REPLACE "\"dev-keys/" "\"keys/" YKTGW_INSTALLED_CONFIG "${YKTGW_EXAMPLE_CONFIG}")
file(WRITE ${CMAKE_BINARY_DIR}/package/yktgw.toml "${YKTGW_INSTALLED_CONFIG}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/config/yktgw.toml)

install(TARGETS yktgw yktgw-sim ykt-platform-sim RUNTIME DESTINATION bin)
# yktgw.toml holds mqtt.password and status.token: root:yktgw 0640 (postinst sets the group, as
# the package cannot name a user it creates itself). The policies and catalogue hold no secret.
install(FILES ${CMAKE_BINARY_DIR}/package/yktgw.toml
        DESTINATION /etc/yktgw PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_SOURCE_DIR}/config/policies.toml ${CMAKE_SOURCE_DIR}/config/service-items.toml
        DESTINATION /etc/yktgw PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/mosquitto/ DESTINATION /etc/yktgw/mosquitto
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/yktgw.service
              ${CMAKE_SOURCE_DIR}/deploy/systemd/yktgw-mosquitto.service
        DESTINATION /lib/systemd/system)
file(GLOB YKTGW_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${YKTGW_DOCS} DESTINATION share/doc/yktgw)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME yktgw)
set(CPACK_PACKAGE_VENDOR "Wulong District resident-services one card programme")
set(CPACK_PACKAGE_CONTACT "yktgw maintainers <yktgw@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Township edge gateway for the resident-services one card (一卡通乡镇网关)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mosquitto")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto-clients")
file(WRITE ${CMAKE_BINARY_DIR}/package/conffiles
     "/etc/yktgw/yktgw.toml\n/etc/yktgw/policies.toml\n/etc/yktgw/service-items.toml\n")
file(GLOB YKTGW_MOSQUITTO_FILES RELATIVE ${CMAKE_SOURCE_DIR}/deploy/mosquitto
     ${CMAKE_SOURCE_DIR}/deploy/mosquitto/*)
foreach(f ${YKTGW_MOSQUITTO_FILES})
  file(APPEND ${CMAKE_BINARY_DIR}/package/conffiles "/etc/yktgw/mosquitto/${f}\n")
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/package/conffiles ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm ${CMAKE_SOURCE_DIR}/deploy/debian/postrm
    ${CMAKE_SOURCE_DIR}/deploy/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
