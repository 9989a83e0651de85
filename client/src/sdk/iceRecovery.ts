import type { types as mediasoupTypes } from 'mediasoup-client';

type Transport = mediasoupTypes.Transport;
type IceParameters = mediasoupTypes.IceParameters;

export interface IceRecoveryTimings {
  /** 'disconnected' often heals by itself; wait this long before an ICE restart. */
  disconnectedGraceMs: number;
  /** A transport that started connecting but is not connected after this is treated as failed. */
  connectTimeoutMs: number;
  /** After an ICE restart, give up (full rejoin) if still not connected after this. */
  restartTimeoutMs: number;
}

export const defaultIceRecoveryTimings: IceRecoveryTimings = {
  disconnectedGraceMs: 2_000,
  connectTimeoutMs: 15_000,
  restartTimeoutMs: 10_000,
};

export interface IceRecoveryOptions {
  transport: Transport;
  /** Asks the server for fresh ICE parameters (the `restartIce` request). */
  requestIceRestart: (transportId: string) => Promise<{ iceParameters: unknown }>;
  /** The transport cannot be saved by an ICE restart: the owner should rejoin from scratch. */
  onUnrecoverable: (reason: string) => void;
  timings?: Partial<IceRecoveryTimings>;
}

/**
 * Watches one mediasoup transport and heals it:
 *   'disconnected' → wait a grace period, then ICE restart;
 *   'failed'       → ICE restart at once;
 *   restart fails, or the transport fails again before reconnecting → unrecoverable.
 * One restart per outage: a second failure means the path is really gone
 * (or the server forgot the transport), and a full rejoin is the cure.
 */
export class IceRecovery {
  private readonly timings: IceRecoveryTimings;
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  private restartedThisOutage = false;
  private closed = false;

  constructor(private readonly options: IceRecoveryOptions) {
    this.timings = { ...defaultIceRecoveryTimings, ...options.timings };
    options.transport.on('connectionstatechange', this.onConnectionStateChange);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.options.transport.off('connectionstatechange', this.onConnectionStateChange);
  }

  private readonly onConnectionStateChange = (state: mediasoupTypes.ConnectionState): void => {
    if (this.closed) return;
    switch (state) {
      case 'connecting':
        // First connection, or the one after an ICE restart: do not wait forever.
        if (!this.deadlineTimer) this.armDeadline(this.timings.connectTimeoutMs, 'transport did not connect in time');
        break;
      case 'connected':
        this.clearTimers();
        this.restartedThisOutage = false;
        break;
      case 'disconnected':
        if (this.graceTimer) break;
        this.graceTimer = setTimeout(() => {
          this.graceTimer = null;
          const current = this.options.transport.connectionState;
          if (current === 'disconnected' || current === 'failed') void this.restart('disconnected');
        }, this.timings.disconnectedGraceMs);
        break;
      case 'failed':
        this.clearGrace();
        void this.restart('failed');
        break;
      case 'closed':
        this.close();
        break;
      default:
        break;
    }
  };

  private async restart(cause: string): Promise<void> {
    if (this.restartedThisOutage) {
      // Already tried a restart during this outage and it did not stick.
      if (this.options.transport.connectionState === 'failed') this.giveUp(`ICE failed again after restart (${cause})`);
      return;
    }
    this.restartedThisOutage = true;
    this.armDeadline(this.timings.restartTimeoutMs, 'ICE restart did not reconnect in time');
    const transport = this.options.transport;
    try {
      const { iceParameters } = await this.options.requestIceRestart(transport.id);
      if (this.closed || transport.closed) return;
      await transport.restartIce({ iceParameters: iceParameters as IceParameters });
    } catch (error) {
      this.giveUp(`ICE restart failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private armDeadline(ms: number, reason: string): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      if (this.options.transport.connectionState === 'connected') return;
      if (!this.restartedThisOutage) void this.restart(reason);
      else this.giveUp(reason);
    }, ms);
  }

  private giveUp(reason: string): void {
    if (this.closed) return;
    this.close();
    this.options.onUnrecoverable(reason);
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  private clearTimers(): void {
    this.clearGrace();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }
}
