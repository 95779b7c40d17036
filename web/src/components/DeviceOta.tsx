import { api } from '../api';
import { ErrorBox, fmtTime, useLoad } from './ui';

// What OTA knows about a device (GET .../devices/{dn}/ota): the version it last informed per module,
// and its upgrade tasks, newest first.
export interface DeviceOta {
  modules: { module: string; version: string; updatedAt: number }[];
  tasks: {
    jobId: string;
    module: string;
    version: string;
    srcVersion: string;
    state: string;
    step: number | null;
    desc: string;
    attempts: number;
    downloads: number;
    updatedAt: number;
  }[];
}

function Step(props: { step: number | null; state: string }) {
  const { step, state } = props;
  if (step === null) return <span class="muted">-</span>;
  if (step < 0) return <span class="badge ev-error">{step}</span>;
  const done = state === 'succeeded' ? 100 : step;
  return (
    <progress max={100} value={done} title={`${done}%`}>
      {done}%
    </progress>
  );
}

export function DeviceOtaSection(props: { base: string; tick?: number }) {
  const ota = useLoad(() => api<DeviceOta>('GET', `${props.base}/ota`), [props.base, props.tick]);
  const data = ota.data;
  return (
    <div class="card" data-testid="device-ota">
      <h3>Firmware (OTA)</h3>
      <ErrorBox error={ota.error} />
      {data && (
        <>
          <table class="grid" data-testid="ota-modules">
            <thead>
              <tr>
                <th>Module</th>
                <th>Version</th>
                <th>Informed</th>
              </tr>
            </thead>
            <tbody>
              {data.modules.map((m) => (
                <tr>
                  <td>
                    <code>{m.module}</code>
                  </td>
                  <td>{m.version}</td>
                  <td>{fmtTime(m.updatedAt)}</td>
                </tr>
              ))}
              {data.modules.length === 0 && (
                <tr>
                  <td colSpan={3} class="muted">
                    The device has not informed a version.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h4>Upgrades</h4>
          <table class="grid" data-testid="ota-history">
            <thead>
              <tr>
                <th>Updated</th>
                <th>Module</th>
                <th>From</th>
                <th>To</th>
                <th>State</th>
                <th>Progress</th>
                <th>Attempts</th>
                <th title="downloads of the package started by the device">Downloads</th>
                <th>Device says</th>
              </tr>
            </thead>
            <tbody>
              {data.tasks.map((t) => (
                <tr>
                  <td>{fmtTime(t.updatedAt)}</td>
                  <td>
                    <code>{t.module}</code>
                  </td>
                  <td>{t.srcVersion || <span class="muted">unknown</span>}</td>
                  <td>{t.version}</td>
                  <td>
                    <span class={`badge st-${t.state}`}>{t.state}</span>
                  </td>
                  <td>
                    <Step step={t.step} state={t.state} />
                  </td>
                  <td>{t.attempts}</td>
                  <td>{t.downloads}</td>
                  <td>{t.desc}</td>
                </tr>
              ))}
              {data.tasks.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted">
                    No upgrades.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
