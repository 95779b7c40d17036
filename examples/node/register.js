// One product one secret: a device that knows only its ProductKey, ProductSecret and DeviceName fetches
// its DeviceSecret from the platform with the official SDK's register(), unmodified; only registerURL
// points here instead of Alibaba's iot-auth. Prints the answer as one JSON line; exits 0 on code 200.
//
//   IOT_REGISTER_URL=http://127.0.0.1:8080/auth/register/device \
//   IOT_PRODUCT_KEY=lamp0001 IOT_PRODUCT_SECRET=... IOT_DEVICE_NAME=lamp-2 node register.js
//
// Over HTTPS with the platform's own CA: NODE_EXTRA_CA_CERTS=.local/tls/ca.crt and an https:// URL.
const iot = require('alibabacloud-iot-device-sdk');

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`register.js: set ${name}`);
    process.exit(2);
  }
  return value;
};

iot.register({
  productKey: env('IOT_PRODUCT_KEY'),
  productSecret: env('IOT_PRODUCT_SECRET'),
  deviceName: env('IOT_DEVICE_NAME'),
  registerURL: env('IOT_REGISTER_URL'),
}, (res) => {
  // Success: {code:200, data:{productKey, deviceName, deviceSecret}}; an Alink error: {code, message}.
  console.log(JSON.stringify({ code: res.code, message: res.message, data: res.data || null }));
  process.exit(res.code === 200 ? 0 : 1);
});
