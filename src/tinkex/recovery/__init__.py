"""Opt-in recovery of training runs: checkpoint as you go, restore and resume on failure.

```python
from tinkex.recovery import RecoveryPolicy, run_with_recovery

def step(client, i):
    client.forward_backward(batches[i], "cross_entropy").result(timeout=600)
    client.optim_step(adam).result(timeout=600)

result = run_with_recovery(service, training, step, num_steps=100,
                           policy=RecoveryPolicy(checkpoint_every=10))
training = result.client  # a new client if the run was restored on the way
```

`policy` says which failures count and how often to retry (`RecoveryPolicy`), `monitor`
(`RunMonitor`) checks the run's health between steps, the executor (`RecoveryExecutor`)
rebuilds the client from the latest checkpoint; progress is logged on `tinkex.recovery`.
"""

from tinkex.recovery.executor import Checkpoint, RecoveryExecutor, Restorer
from tinkex.recovery.loop import (
    RecoverableTrainingLoop,
    RecoveryCallbacks,
    RecoveryExhaustedError,
    RecoveryResult,
    TrainingLike,
    run_with_recovery,
)
from tinkex.recovery.monitor import (
    Failure,
    FailureKind,
    RunCorruptedError,
    RunMonitor,
    classify,
    is_recoverable,
)
from tinkex.recovery.policy import RecoveryPolicy

__all__ = [
    "Checkpoint",
    "Failure",
    "FailureKind",
    "RecoverableTrainingLoop",
    "RecoveryCallbacks",
    "RecoveryExecutor",
    "RecoveryExhaustedError",
    "RecoveryPolicy",
    "RecoveryResult",
    "Restorer",
    "RunCorruptedError",
    "RunMonitor",
    "TrainingLike",
    "classify",
    "is_recoverable",
    "run_with_recovery",
]
