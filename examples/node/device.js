// A lamp on the platform with Alibaba's official Node SDK (alibabacloud-iot-device-sdk), unmodified: only
// brokerUrl points here. It connects, posts its properties, takes property sets and answers the Blink
// service. Every step is printed as one JSON line (the platform's tests read them).
//
//   IOT_BROKER_URL=mqtt://127.0.0.1:1883 IOT_PRODUCT_KEY=lamp0001 IOT_DEVICE_NAME=lamp-1 \
//   IOT_DEVICE_SECRET=... node device.js
//
// IOT_BROKER_URL may be mqtt://host:1883, mqtts://host:8883, ws://host:8083/mqtt or wss://host:8084/mqtt
// (TLS with the platform's own CA: NODE_EXTRA_CA_CERTS=.local/tls/ca.crt). IOT_RUN_SECONDS ends the
// program after that long (default: run until Ctrl-C).
const iot = require('alibabacloud-iot-device-sdk');

const env = (name, fallback) => {
  const value = process.env[name] || fallback;
  if (value === undefined) {
    console.error(`device.js: set ${name}`);
    process.exit(2);
  }
  return value;
};
const say = (event, fields) => console.log(JSON.stringify(Object.assign({ event }, fields)));

const state = { LightSwitch: 0, Brightness: 50 };
const device = iot.device({
  productKey: env('IOT_PRODUCT_KEY'),
  deviceName: env('IOT_DEVICE_NAME'),
  deviceSecret: env('IOT_DEVICE_SECRET'),
  brokerUrl: env('IOT_BROKER_URL', 'mqtt://127.0.0.1:1883'),
});

device.on('connect', () => {
  say('connected', {});
  device.postProps(state, (res) => say('postReply', { code: res.code, message: res.message || null }));
});
device.on('error', (err) => say('error', { message: String(err && err.message ? err.message : err) }));

// Property sets from the platform: answer (the SDK leaves the reply to the application), apply, then
// report the new state.
const pk = env('IOT_PRODUCT_KEY');
const dn = env('IOT_DEVICE_NAME');
device.onProps((cmd) => {
  say('propertySet', { params: cmd.params });
  device.publish(`/sys/${pk}/${dn}/thing/service/property/set_reply`, JSON.stringify({ id: cmd.id, code: 200, data: {} }));
  Object.assign(state, cmd.params);
  device.postProps(state, (res) => say('postReply', { code: res.code, message: res.message || null }));
});

// The Blink service (async in the lamp's thing model): answer on thing/service/Blink_reply.
device.onService('Blink', (res, reply) => {
  say('service', { name: 'Blink', params: res.params });
  reply({ id: res.id, code: 200, data: { Blinked: (res.params && res.params.Times) || 1 } });
});

const seconds = Number(process.env.IOT_RUN_SECONDS || 0);
if (seconds > 0) {
  setTimeout(() => { device.end(); process.exit(0); }, seconds * 1000);
}
