#!/usr/bin/env python3
"""A lamp on the platform in plain Python: Debian's python3-paho-mqtt, with Alibaba's signing written out.

    IOT_BROKER=127.0.0.1:1883 IOT_PRODUCT_KEY=lamp0001 IOT_DEVICE_NAME=lamp-1 IOT_DEVICE_SECRET=... \\
        python3 examples/python/lamp.py

IOT_TLS_CA=.local/tls/ca.crt connects over TLS (port 8883, securemode=2); IOT_TRANSPORT=websockets uses MQTT
over WebSocket (port 8083, path /mqtt). It posts LightSwitch and Brightness, obeys property sets and answers
the Blink service, printing each step as one JSON line. IOT_RUN_SECONDS ends it (default: until Ctrl-C).
"""
import hashlib
import hmac
import json
import os
import sys
import time

import paho.mqtt.client as mqtt


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"lamp.py: set {name}")
    return value


def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


PK = env("IOT_PRODUCT_KEY")
DN = env("IOT_DEVICE_NAME")
SECRET = env("IOT_DEVICE_SECRET")
HOST, PORT = env("IOT_BROKER", "127.0.0.1:1883").rsplit(":", 1)
CA = os.environ.get("IOT_TLS_CA")
TRANSPORT = os.environ.get("IOT_TRANSPORT", "tcp")

# Alibaba's MQTT signing (one device one secret):
#   clientId  "<id>|securemode=<2 TLS, 3 plain>,signmethod=hmacsha256,timestamp=<ms>|"
#   username  "<deviceName>&<productKey>"
#   password  hex HMAC-SHA256(DeviceSecret, "clientId<id>deviceName<dn>productKey<pk>timestamp<ms>")
client_id = f"{PK}.{DN}"
timestamp = str(int(time.time() * 1000))
content = f"clientId{client_id}deviceName{DN}productKey{PK}timestamp{timestamp}"
password = hmac.new(SECRET.encode(), content.encode(), hashlib.sha256).hexdigest()
mqtt_client_id = f"{client_id}|securemode={2 if CA else 3},signmethod=hmacsha256,timestamp={timestamp}|"

state = {"LightSwitch": 0, "Brightness": 50}
next_id = [0]


def topic(suffix):
    return f"/sys/{PK}/{DN}/{suffix}"


def post_properties(client):
    next_id[0] += 1
    message = {"id": str(next_id[0]), "version": "1.0", "params": dict(state),
               "method": "thing.event.property.post"}
    client.publish(topic("thing/event/property/post"), json.dumps(message), qos=1)


def on_connect(client, userdata, flags, rc):
    say("connected" if rc == 0 else "refused", rc=rc)
    if rc != 0:
        return
    client.subscribe([(topic("thing/event/property/post_reply"), 0),
                      (topic("thing/service/property/set"), 1),
                      (topic("thing/service/Blink"), 1)])
    post_properties(client)


def on_message(client, userdata, msg):
    payload = json.loads(msg.payload or b"{}")
    if msg.topic.endswith("/property/post_reply"):
        say("postReply", code=payload.get("code"), message=payload.get("message"))
    elif msg.topic.endswith("/property/set"):
        say("propertySet", params=payload.get("params"))
        state.update(payload.get("params") or {})
        client.publish(msg.topic + "_reply", json.dumps({"id": payload.get("id"), "code": 200, "data": {}}))
        post_properties(client)
    elif msg.topic.endswith("/service/Blink"):
        params = payload.get("params") or {}
        say("service", name="Blink", params=params)
        client.publish(msg.topic + "_reply",
                       json.dumps({"id": payload.get("id"), "code": 200, "data": {"Blinked": params.get("Times", 1)}}))


client = mqtt.Client(client_id=mqtt_client_id, clean_session=True, protocol=mqtt.MQTTv311, transport=TRANSPORT)
if TRANSPORT == "websockets":
    client.ws_set_options(path="/mqtt")
if CA:
    client.tls_set(ca_certs=CA)
client.username_pw_set(f"{DN}&{PK}", password)
client.on_connect = on_connect
client.on_message = on_message
client.connect(HOST, int(PORT), keepalive=60)

seconds = float(os.environ.get("IOT_RUN_SECONDS", "0"))
deadline = time.monotonic() + seconds if seconds > 0 else None
next_post = time.monotonic() + 10
try:
    while deadline is None or time.monotonic() < deadline:
        client.loop(timeout=0.2)
        if time.monotonic() >= next_post and client.is_connected():
            post_properties(client)  # the lamp's state every 10 s
            next_post = time.monotonic() + 10
except KeyboardInterrupt:
    pass
client.disconnect()
