// REST client for /api/v1 (contract: shared/spec/rest-api.md). The token lives in sessionStorage only.

const TOKEN_KEY = 'iot.token';
export const BASE = '/api/v1';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export interface ErrorItem {
  path: string;
  code?: number;
  message: string;
}
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: ErrorItem[];
  serviceCall?: ServiceCall;
}

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
  get errors(): ErrorItem[] {
    return this.problem.errors ?? [];
  }
}

// Called on a real 401 (unknown, revoked or expired token) so the app can go back to sign-in; a 503 or
// 429 never signs anybody out.
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}
// For answers outside api(), e.g. the stream closed with 4401.
export function reportUnauthorized(): void {
  onUnauthorized();
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') search.set(k, String(v));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const MAX_RETRIES = 3;

// Retry-After in milliseconds (seconds form only, at most 10 s), or null when absent.
function retryAfterMs(response: Response): number | null {
  const value = response.headers.get('Retry-After');
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  return Math.min(Number(value.trim()), 10) * 1000;
}

// fetch() that waits and retries a 503 carrying Retry-After, at most MAX_RETRIES times: a GET always,
// another method only when the token check itself could not run (the request was not carried out then;
// a POST refused later may have done part of its work). Such a 503 never means "signed out". Answers the
// response with its body read; a network failure is an ApiError with status 0.
const TOKEN_CHECK_UNAVAILABLE = 'token check unavailable';
async function fetchRetrying(url: string, init: RequestInit): Promise<{ response: Response; text: string }> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, init);
      text = await response.text();
    } catch (e) {
      throw new ApiError({ status: 0, title: 'network error', detail: `cannot reach the API: ${String(e)}` });
    }
    const wait = retryAfterMs(response);
    const notCarriedOut = init.method === 'GET' || text.includes(TOKEN_CHECK_UNAVAILABLE);
    if (response.status !== 503 || wait === null || !notCarriedOut || attempt >= MAX_RETRIES) return { response, text };
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const auth = token ?? getToken();
  if (auth) headers.Authorization = `Bearer ${auth}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const { response, text } = await fetchRetrying(BASE + path, { method, headers, body: payload });
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!response.ok) {
    const problem: Problem =
      json && typeof json === 'object'
        ? { status: response.status, ...(json as object) }
        : { status: response.status, title: response.statusText, detail: text.slice(0, 300) };
    if (response.status === 401 && token === undefined) onUnauthorized();
    throw new ApiError(problem);
  }
  return json as T;
}

export interface List<T> {
  items: T[];
  nextCursor: string | null;
}

// Every item of a list, following nextCursor page by page (1,000 a page).
export async function listAll<T>(path: string, params: Record<string, string | number | undefined | null> = {}): Promise<List<T>> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: List<T> = await api<List<T>>('GET', path + qs({ ...params, limit: 1000, cursor }));
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return { items, nextCursor: null };
}

// A non-JSON request (CSV import and export): the raw response text, problems thrown as ApiError.
export async function apiText(method: string, path: string, body?: string, contentType?: string): Promise<string> {
  const headers: Record<string, string> = {};
  const auth = getToken();
  if (auth) headers.Authorization = `Bearer ${auth}`;
  if (body !== undefined && contentType) headers['Content-Type'] = contentType;
  const { response, text } = await fetchRetrying(BASE + path, { method, headers, body });
  if (!response.ok) {
    let problem: Problem = { status: response.status, title: response.statusText, detail: text.slice(0, 300) };
    try {
      problem = { status: response.status, ...(JSON.parse(text) as object) };
    } catch {
      // not a problem document
    }
    if (response.status === 401) onUnauthorized();
    throw new ApiError(problem);
  }
  return text;
}

export type Validation = 'weak' | 'none' | 'strict';
export interface Product {
  productKey: string;
  name: string;
  nodeType: 'device' | 'gateway';
  validation: Validation;
  retentionDays: number;
  timestampWindowS: number;  // device passwords' timestamp window, 0 = not checked
  description: string | null;
  createdAt: number;
  thingModelVersion: number | null;
  deviceCount: number;
  dataFormat: 'alink' | 'raw';
  scriptUpdatedAt: number | null;
  dynamicRegistration: boolean;
  remoteConfig: boolean;  // devices may fetch the product's configuration file (thing.config.get)
  productSecret?: string;
}

export type DeviceStatus = 'unactive' | 'online' | 'offline' | 'disabled';
export interface Device {
  productKey: string;
  deviceName: string;
  iotId: string;
  nickname: string | null;
  status: DeviceStatus;
  enabled: boolean;
  tags: Record<string, string>;
  createdAt: number;
  activatedAt: number | null;
  lastOnlineAt: number | null;
  lastOfflineAt: number | null;
  ipAddress: string | null;
  deviceSecret?: string;
  // The gateway whose topology holds the device (null when none).
  gateway?: { productKey: string; deviceName: string } | null;
}

export interface LatestProperty {
  identifier: string;
  name: string | null;
  dataType: string | null;
  value: unknown;
  time: number;
}

export interface EventRow {
  identifier: string;
  name: string | null;
  type: string;
  output: unknown;
  time: number;
}

export interface Rejection {
  time: number;
  method: string;
  identifier: string | null;
  value: unknown;
  code: number;
  message: string;
}

export type CallStatus = 'queued' | 'sent' | 'succeeded' | 'failed' | 'timeout' | 'expired' | 'rejected';
export const FINAL_STATUSES: CallStatus[] = ['succeeded', 'failed', 'timeout', 'expired', 'rejected'];
export interface ServiceCall {
  callId: string;
  identifier: string;
  callType: 'sync' | 'async';
  params: unknown;
  output: unknown;
  status: CallStatus;
  code: number | null;
  message: string | null;
  requestedBy: string | null;
  requestedAt: number;
  sentAt: number | null;
  repliedAt: number | null;
  expiresAt: number | null;
}

export interface AggregateRow {
  time: number;
  avg?: number | null;
  min?: number | null;
  max?: number | null;
  count?: number;
  first?: number | null;
  last?: number | null;
}

export interface VersionInfo {
  version: number;
  publishedAt: number;
  description: string | null;
}

export function devicePath(pk: string, dn: string): string {
  return `/products/${encodeURIComponent(pk)}/devices/${encodeURIComponent(dn)}`;
}
