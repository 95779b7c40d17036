// A simulated Alink device for the browser test: a real MQTT 3.1.1 client (npm `mqtt`) that signs in per
// the Alink reference §5.1 (HMAC-SHA256 over the sorted parameters), posts properties and events, and
// answers property set, async services and RRPC (sync) services.
import { createHmac } from 'node:crypto';

export class Device {
  constructor(mqtt, { url, productKey, deviceName, deviceSecret, log = () => {} }) {
    this.mqtt = mqtt;
    this.url = url;
    this.pk = productKey;
    this.dn = deviceName;
    this.secret = deviceSecret;
    this.log = log;
    this.nextId = 1;
    this.pending = new Map(); // id → resolve of a *_reply
    this.received = []; // every downlink request
    this.serviceOutput = {}; // identifier → data replied
  }

  topic(rest) {
    return `/sys/${this.pk}/${this.dn}/${rest}`;
  }

  async connect() {
    const ts = String(Date.now());
    const clientId = `${this.pk}.${this.dn}`;
    const content = `clientId${clientId}deviceName${this.dn}productKey${this.pk}timestamp${ts}`;
    const password = createHmac('sha256', this.secret).update(content).digest('hex');
    this.client = this.mqtt.connect(this.url, {
      clientId: `${clientId}|securemode=3,signmethod=hmacsha256,timestamp=${ts}|`,
      username: `${this.dn}&${this.pk}`,
      password,
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await new Promise((resolve, reject) => {
      this.client.once('connect', resolve);
      this.client.once('error', reject);
      this.client.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await this.client.subscribeAsync(
      [this.topic('thing/event/+/post_reply'), this.topic('thing/event/property/post_reply'), this.topic('thing/service/+'), this.topic('thing/service/property/set'), this.topic('rrpc/request/+'), `/shadow/get/${this.pk}/${this.dn}`],
      { qos: 0 },
    );
    this.log(`device ${this.dn} connected`);
  }

  onMessage(topic, payload) {
    let msg;
    try {
      msg = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (topic.endsWith('_reply')) {
      const resolve = this.pending.get(msg.id);
      if (resolve) {
        this.pending.delete(msg.id);
        resolve(msg);
      }
      return;
    }
    this.received.push({ topic, msg });
    this.log(`device got ${topic} ${payload.toString()}`);
    const rrpc = topic.match(/\/rrpc\/request\/([^/]+)$/);
    if (rrpc) {
      const id = (msg.method ?? '').replace(/^thing\.service\./, '');
      const data = this.serviceOutput[id] ?? {};
      this.client.publish(this.topic(`rrpc/response/${rrpc[1]}`), JSON.stringify({ id: msg.id, code: 200, data }));
      return;
    }
    if (topic === this.topic('thing/service/property/set')) {
      this.client.publish(`${topic}_reply`, JSON.stringify({ id: msg.id, code: 200, data: {} }));
      // A real device reports the new state after applying it.
      this.postProperties(msg.params).catch((e) => this.log(`post after set failed: ${e}`));
      return;
    }
    const service = topic.match(/\/thing\/service\/([^/]+)$/);
    if (service) {
      const data = this.serviceOutput[service[1]] ?? {};
      this.client.publish(`${topic}_reply`, JSON.stringify({ id: msg.id, code: 200, data }));
    }
  }

  request(topic, method, params) {
    const id = String(this.nextId++);
    if (!this.client?.connected) return Promise.reject(new Error(`device not connected: cannot send ${method}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${method} within 10 s`));
      }, 10000);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.client.publish(topic, JSON.stringify({ id, version: '1.0', sys: { ack: 1 }, params, method }), { qos: 1 });
    });
  }

  // Device shadow: reports on /shadow/update (answers and "control" pushes land in `received`).
  shadowReport(reported, version) {
    this.client.publish(`/shadow/update/${this.pk}/${this.dn}`, JSON.stringify({ method: 'update', state: { reported }, version }), { qos: 1 });
  }

  postProperties(params) {
    return this.request(this.topic('thing/event/property/post'), 'thing.event.property.post', params);
  }

  postEvent(identifier, value) {
    return this.request(this.topic(`thing/event/${identifier}/post`), `thing.event.${identifier}.post`, { value, time: Date.now() });
  }

  async close() {
    if (this.client) await this.client.endAsync();
  }
}
