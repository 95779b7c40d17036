# `cmake --install <build> [--prefix P]` (README "Operate"): the services, the broker plugin, the web console,
# the OpenAPI document and the host-install files (systemd units, Mosquitto configuration, sysusers entry).
# The binaries are relocatable (iot-api embeds the OpenAPI document and finds the console relative to
# itself); the systemd units name the install-time prefix, so install them with the prefix they will run from
# (DESTDIR stages such a tree elsewhere).
set(IOT_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/iot-cloud)
set(IOT_PLUGIN_DIR ${CMAKE_INSTALL_LIBDIR}/iot-cloud)

install(TARGETS iot-api iot-gateway iot-migrate iot-devsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS iot_auth_plugin LIBRARY DESTINATION ${IOT_PLUGIN_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/schemas/api/openapi.json DESTINATION ${IOT_SHARE_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/deploy/backup.sh ${PROJECT_SOURCE_DIR}/deploy/restore.sh
        DESTINATION ${IOT_SHARE_DIR}/deploy PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
        GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/lib/platform.sh DESTINATION ${IOT_SHARE_DIR}/deploy/lib)  # they source it

# The console is built outside CMake (web/build.sh <build>/web, which deploy/local/run.sh and tests/run.sh
# call): refuse to install a tree without it.
install(CODE "
  if(NOT EXISTS \"${PROJECT_BINARY_DIR}/web/index.html\")
    message(FATAL_ERROR \"the web console is not built: run web/build.sh ${PROJECT_BINARY_DIR}/web first\")
  endif()")
install(DIRECTORY ${PROJECT_BINARY_DIR}/web/ DESTINATION ${IOT_SHARE_DIR}/web PATTERN ".*" EXCLUDE)

# systemd units and the Mosquitto pieces, with the install-time prefix's paths substituted.
set(iot_systemd_src ${PROJECT_SOURCE_DIR}/deploy/systemd)
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(stage \"\$ENV{DESTDIR}\${prefix}\")
  file(READ \"${iot_systemd_src}/hardening.conf\" hardening)
  foreach(unit iot-migrate.service iot-api.service iot-gateway.service iot-gateway@.service)
    file(READ \"${iot_systemd_src}/\${unit}.in\" text)
    string(REPLACE \"@IOT_BINDIR@\" \"\${prefix}/${CMAKE_INSTALL_BINDIR}\" text \"\${text}\")
    string(REPLACE \"@IOT_DOCDIR@\" \"\${prefix}/${CMAKE_INSTALL_DOCDIR}\" text \"\${text}\")
    string(REPLACE \"@IOT_HARDENING@\" \"\${hardening}\" text \"\${text}\")
    message(STATUS \"Installing: \${stage}/lib/systemd/system/\${unit}\")
    file(WRITE \"\${stage}/lib/systemd/system/\${unit}\" \"\${text}\")
  endforeach()
  file(READ \"${iot_systemd_src}/mosquitto-iot-cloud.conf.in\" text)
  string(REPLACE \"@IOT_PLUGIN@\" \"\${prefix}/${IOT_PLUGIN_DIR}/iot_auth_plugin.so\" text \"\${text}\")
  message(STATUS \"Installing: \${stage}/${IOT_SHARE_DIR}/mosquitto/iot-cloud.conf\")
  file(WRITE \"\${stage}/${IOT_SHARE_DIR}/mosquitto/iot-cloud.conf\" \"\${text}\")")
install(FILES ${iot_systemd_src}/mosquitto.service.d-iot-cloud.conf
        DESTINATION lib/systemd/system/mosquitto.service.d RENAME iot-cloud.conf)
install(FILES ${iot_systemd_src}/sysusers-iot-cloud.conf DESTINATION lib/sysusers.d RENAME iot-cloud.conf)
