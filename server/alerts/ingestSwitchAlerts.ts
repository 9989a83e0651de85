/**
 * Backup ingest switches, made visible: each switch of a room's program
 * between its primary and backup encoder is counted
 * (`floodlight_ingest_switches_total{reason}`), sent as a signed webhook
 * event `ingest.switched` (contract: server/contracts/programApi.ts) and
 * kept as an alert: `ingest_failover` fires while a room is on its backup
 * encoder and resolves when it is back on the primary (or the room ends).
 * The log line is the room's own ("program switched slot").
 */
import { Counter, type Registry } from 'prom-client';
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import { INGEST_SWITCHED_EVENT, programSwitchReasons, type ProgramSwitch } from '../contracts/programApi.js';
import type { AlertManager } from './alertManager.js';
import type { WebhookDispatcher } from './webhookDispatcher.js';

export interface IngestSwitchAlertsOptions {
  rooms: RoomRegistry;
  alerts: AlertManager;
  /** Absent when no WEBHOOK_URLS are configured. */
  webhooks: WebhookDispatcher | undefined;
  /** The server's metrics registry. */
  registry: Registry;
}

export class IngestSwitchAlerts {
  readonly #options: IngestSwitchAlertsOptions;
  readonly #switches: Counter<'reason'>;
  readonly #onRoomOpened = (room: Room): void => this.#follow(room);
  #closed = false;

  constructor(options: IngestSwitchAlertsOptions) {
    this.#options = options;
    this.#switches = new Counter({
      name: 'floodlight_ingest_switches_total',
      help: "Switches of a room's program between its primary and backup encoder, by reason",
      labelNames: ['reason'],
      registers: [options.registry],
    });
    for (const reason of programSwitchReasons) if (reason !== 'initial') this.#switches.inc({ reason }, 0);
    options.rooms.on('roomOpened', this.#onRoomOpened);
    for (const room of options.rooms.rooms()) this.#follow(room);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.rooms.off('roomOpened', this.#onRoomOpened);
  }

  #follow(room: Room): void {
    room.on('programSwitched', (change) => this.#onSwitch(change));
    room.once('closed', () => this.#options.alerts.resolve('ingest_failover', room.id, null, 'the room closed'));
  }

  #onSwitch(change: ProgramSwitch): void {
    if (this.#closed) return;
    this.#switches.inc({ reason: change.reason });
    this.#options.webhooks?.send(INGEST_SWITCHED_EVENT, { switch: change });
    const { alerts } = this.#options;
    if (change.to === 'backup') {
      alerts.fire({ rule: 'ingest_failover', room: change.room, message: `room ${change.room} is on its backup encoder (${describe(change)})` });
    } else {
      alerts.resolve('ingest_failover', change.room, null, `room ${change.room} is back on its primary encoder (${describe(change)})`);
    }
  }
}

function describe(change: ProgramSwitch): string {
  switch (change.reason) {
    case 'stall':
      return `the ${change.from} encoder stopped sending video`;
    case 'disconnect':
      return `the ${change.from} encoder disconnected`;
    case 'failback':
      return 'the primary encoder has been healthy again';
    case 'manual':
      return 'switched by an operator';
    case 'initial':
      return 'went on air';
  }
}
