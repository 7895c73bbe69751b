import { describe, expect, it } from 'vitest';
import { QuorumLabError, describeError } from '../contracts/errors.ts';
import { ModelError } from '../analysis/model.ts';
import { RunDataError } from '../analysis/read-run.ts';
import { ControlError } from '../harness/control.ts';
import { FaultSupportError } from '../harness/experiment.ts';
import { FaultSpecError } from '../harness/faults.ts';
import { OptionError } from '../harness/options.ts';
import { DurationError } from '../lib/duration.ts';
import { TokenError } from '../nodes/auth.ts';
import { ClusterError } from '../nodes/cluster.ts';
import { ConfigError } from '../nodes/config.ts';
import { SchedulerError } from '../nodes/scheduler-errors.ts';

describe('one error base class', () => {
  const samples: Error[] = [
    new ModelError('m'),
    new RunDataError('QL_ERR_RUN_EMPTY', 'summary.csv', 'm'),
    new ControlError('m', 500),
    new FaultSupportError('m'),
    new FaultSpecError('m'),
    new OptionError('read-timeout', 'm'),
    new DurationError('MIN_DELAY', 'x'),
    new TokenError('m'),
    new ClusterError('QL_ERR_LEADER_PRIORITY', 'm'),
    new ConfigError('WRITE_QUORUM', 'm'),
    new SchedulerError('QL_ERR_SCHEDULER_CLOSED', 'm'),
  ];
  it.each(samples.map((e) => [e.constructor.name, e] as const))(
    '%s is a QuorumLabError with a QL_ERR_ code and its own name',
    (name, e) => {
      expect(e).toBeInstanceOf(QuorumLabError);
      expect((e as QuorumLabError).code).toMatch(/^QL_ERR_[A-Z_]+$/);
      expect(e.name).toBe(name);
    },
  );
  it('an option error names the option in its code', () => {
    expect(new OptionError('read-timeout', 'm').code).toBe('QL_ERR_OPT_READ_TIMEOUT');
  });
  it('describeError prints our errors as one line and anything else with its stack', () => {
    expect(describeError(new FaultSpecError('bad spec "x"'))).toBe('QL_ERR_FAULT_SPEC: bad spec "x"');
    const bug = new TypeError('undefined is not a function');
    expect(describeError(bug)).toContain('TypeError: undefined is not a function\n    at ');
    expect(describeError('plain')).toBe('plain');
  });
});
