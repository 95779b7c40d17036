// The live stream (GET /api/v1/stream, WebSocket): one connection for the whole console, subscriptions by
// product or device, reconnecting with backoff. Pages register listeners; a listener is told about every
// message of its product (and device, when given). After a reconnect listeners get a 'resync' so they
// can reload what they show (messages sent while disconnected are not replayed).

import { getToken, reportUnauthorized } from './api';
import { useEffect, useRef, useState } from 'preact/hooks';

// 'subscribed': the server's answer to a subscription, once it is in effect; a view loaded before it may
// have missed a change made in between and reloads on it.
export type StreamType = 'property' | 'event' | 'status' | 'serviceCall' | 'rejection' | 'alarm' | 'resync' | 'subscribed';
export interface StreamMessage {
  type: StreamType;
  productKey: string;
  deviceName: string;
  time: number;
  data: any;
}
type Listener = (message: StreamMessage) => void;
interface Subscription {
  productKey: string;
  deviceName?: string;
  listener: Listener;
}
// idle: no page needs live updates yet (the socket opens with the first subscription).
export type StreamState = 'idle' | 'connecting' | 'live' | 'down' | 'unavailable';

const subscriptions = new Set<Subscription>();
const stateListeners = new Set<(s: StreamState) => void>();
let socket: WebSocket | null = null;
let state: StreamState = 'idle';
let retryMs = 500;
let retryTimer: number | undefined;
let opened = false;

function setState(next: StreamState): void {
  state = next;
  stateListeners.forEach((l) => l(next));
}

function key(s: { productKey: string; deviceName?: string }): string {
  return `${s.productKey}/${s.deviceName ?? ''}`;
}

function send(message: unknown): void {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function subscribeMessage(s: { productKey: string; deviceName?: string }) {
  return s.deviceName ? { productKey: s.productKey, deviceName: s.deviceName } : { productKey: s.productKey };
}

function connect(): void {
  const token = getToken();
  if (!token || socket) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  setState('connecting');
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/stream?token=${encodeURIComponent(token)}`);
  socket = ws;
  let wasOpen = false;
  ws.onopen = () => {
    wasOpen = true;
    retryMs = 500;
    setState('live');
    const sent = new Set<string>();
    for (const s of subscriptions) {
      if (sent.has(key(s))) continue;
      sent.add(key(s));
      send({ subscribe: subscribeMessage(s) });
    }
    if (opened) {
      for (const s of subscriptions)
        s.listener({ type: 'resync', productKey: s.productKey, deviceName: s.deviceName ?? '', time: Date.now(), data: {} });
    }
    opened = true;
  };
  ws.onmessage = (ev) => {
    let message: StreamMessage;
    try {
      message = JSON.parse(String(ev.data));
    } catch {
      return;
    }
    if (!message || typeof message !== 'object' || !message.productKey) return;
    for (const s of subscriptions) {
      if (s.productKey !== message.productKey) continue;
      if (s.deviceName && s.deviceName !== message.deviceName) continue;
      try {
        s.listener(message);
      } catch (e) {
        console.error('stream listener failed', e);
      }
    }
  };
  ws.onclose = (ev) => {
    if (socket !== ws) return; // closed on purpose (closeStream), or replaced since
    socket = null;
    // 4401: the token was revoked or expired while the stream was open; sign out as a 401 does.
    if (ev.code === 4401) {
      setState('down');
      reportUnauthorized();
      return;
    }
    // Never opened: the API may not offer the stream (yet); keep retrying, slowly.
    setState(wasOpen ? 'down' : 'unavailable');
    if (!getToken()) return;
    retryTimer = window.setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  };
}

export function subscribe(productKey: string, deviceName: string | undefined, listener: Listener): () => void {
  const s: Subscription = { productKey, deviceName, listener };
  const already = [...subscriptions].some((o) => key(o) === key(s));
  subscriptions.add(s);
  if (!socket) connect();
  else if (!already) send({ subscribe: subscribeMessage(s) });
  return () => {
    subscriptions.delete(s);
    if (![...subscriptions].some((o) => key(o) === key(s))) send({ unsubscribe: subscribeMessage(s) });
  };
}

export function closeStream(): void {
  window.clearTimeout(retryTimer);
  opened = false;
  socket?.close();
  socket = null;
  setState('idle');
}

export function useStreamState(): StreamState {
  const [s, set] = useState<StreamState>(state);
  useEffect(() => {
    stateListeners.add(set);
    return () => void stateListeners.delete(set);
  }, []);
  return s;
}

// Subscribes for the lifetime of a component.
export function useStream(productKey: string, deviceName: string | undefined, listener: Listener): void {
  const listenerRef = useRef(listener);
  listenerRef.current = listener;
  useEffect(() => subscribe(productKey, deviceName, (m) => listenerRef.current(m)), [productKey, deviceName]);
}
