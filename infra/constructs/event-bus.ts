import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';

export interface EventBusProps {
  /** e.g. `esync-dev-core-bus`. */
  readonly busName: string;
  /** Name of the archive, e.g. `esync-dev-core-archive`. */
  readonly archiveName: string;
  /** @default Duration.days(30) */
  readonly archiveRetention?: Duration;
}

/**
 * The ESync bus: CDC producers put change events on it, runs emit `esync.run.*` and conflict
 * events. Everything that reaches it is archived, so events can be replayed after a fix.
 */
export class EventBus extends Construct {
  readonly bus: events.EventBus;

  constructor(scope: Construct, id: string, props: EventBusProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: props.busName });
    this.bus.archive('Archive', {
      archiveName: props.archiveName,
      description: `Every event of ${props.busName}, for replay`,
      // An archive needs a pattern; matching on the account takes every event.
      eventPattern: { account: [this.bus.stack.account] },
      retention: props.archiveRetention ?? Duration.days(30),
    });
  }
}
