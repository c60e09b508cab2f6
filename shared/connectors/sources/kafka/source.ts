import { PushOnlySource } from '../support/push-only.ts';
import { sourceFactory } from '../support/source-base.ts';

/** The Kafka source: records arrive from the topics of triggers.kafka; a batch run reads nothing. */
export const createKafkaSource = sourceFactory<'kafka'>(PushOnlySource);
