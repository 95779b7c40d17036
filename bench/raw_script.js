// Parsing script of the raw-product benchmark (iot-loadgen publish --raw; bench/e2e.sh with IOT_E2E_RAW=1):
// the same five properties as the generated Alink posts (bench/loadgen DefaultTsl), packed.
// Up frame (12 bytes): 0x00, id (uint32 BE), temperature x10 (int16 BE), humidity (uint8),
//                      powerSwitch (uint8), voltage x100 (uint16 BE), mode (uint8).
// Reply (7 bytes):     0x02, id (uint32 BE), code (uint16 BE).
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var view = new DataView(u.buffer, 0);
  return {
    method: 'thing.event.property.post',
    version: '1.0',
    id: '' + view.getUint32(1),
    params: {
      temperature: view.getInt16(5) / 10,
      humidity: u[7],
      powerSwitch: u[8],
      voltage: view.getUint16(9) / 100,
      mode: u[11]
    }
  };
}

function protocolToRawData(json) {
  var id = parseInt(json.id, 10), code = json.code || 0;
  return [0x02, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff, (code >> 8) & 0xff, code & 0xff];
}
