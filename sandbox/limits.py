"""Every limit of a run, named with its unit and its reason."""

# What a run gets when it asks for nothing (the API's documented defaults).
DEFAULT_TIMEOUT_S = 30
DEFAULT_MEMORY_MIB = 128
# Below this not even the Python interpreter starts in a useful state.
MIN_MEMORY_MIB = 16
MIN_TIMEOUT_S = 1

# What the supervisor and the resting interpreter take on top of a run's memory is the
# family's agent_memory_mib, in sandbox/languages.py.

# The request's parts. They travel in one message into the container, and the work
# directory is a tmpfs of WORK_DIR_MIB, so files above that could not be written anyway.
MAX_CODE_BYTES = 1024 * 1024
MAX_STDIN_BYTES = 8 * 1024 * 1024
MAX_ARGS = 256
MAX_ARG_BYTES = 64 * 1024
MAX_ENV_VARS = 256
MAX_ENV_BYTES = 256 * 1024
MAX_FILES = 256
MAX_FILE_PATH_CHARS = 1024
MAX_FILES_BYTES = 32 * 1024 * 1024
MAX_INPUT_BYTES = 8 * 1024 * 1024

# Writable places inside the container; everything else is a read-only root.
WORK_DIR_MIB = 64
TMP_DIR_MIB = 64
# Open files, and the largest file the code may write (the tmpfs caps the total).
NOFILE = 1024
FSIZE_BYTES = 64 * 1024 * 1024

# A function's JSON result must fit in one frame from the container.
MAX_RESULT_BYTES = 8 * 1024 * 1024
# Past MAX_OUTPUT_BYTES output is dropped; a run that keeps writing this many times more
# is a runaway writer and is killed, so it cannot keep a CPU busy until its timeout.
RUNAWAY_OUTPUT_FACTOR = 16

# The supervisor kills a run at its time limit; the engine gives it this much longer
# before it kills the whole container itself, in case the supervisor was subverted.
ENGINE_TIMEOUT_GRACE_S = 2.0
# A fresh container's interpreter must be loaded and waiting within this time.
AGENT_READY_TIMEOUT_S = 30.0
# Containers being created at once: dockerd serialises much of the work, and more at
# once only makes each slower on 2 cores.
MAX_CONTAINER_STARTS = 4
# A replacement for a pool that still holds a ready sandbox starts this much later:
# Docker's work on both cores would otherwise slow the run that just ended while its
# result is saved and answered (an idle API call: p50 18 -> 11 ms, with the removals
# below; bench/api.py). An empty pool refills at once.
UPKEEP_DELAY_S = 0.04
# Finished containers (stopped: their supervisor exits after its run) are removed once
# no container has started or finished for this long, a few at a time, so that a burst
# of runs does not also pay for the removals: about a tenth of Docker's work per run.
REMOVE_WHEN_QUIET_FOR_S = 1.0
REMOVALS_AT_ONCE = 4
# Past this many waiting, the oldest is removed at once: under a load that never lets
# up, removal keeps pace with runs, and the backlog stays bounded.
MAX_FINISHED_CONTAINERS = 256
# Seconds a client is told to wait when the engine is saturated or unreachable.
BUSY_RETRY_AFTER_S = 1
UNAVAILABLE_RETRY_AFTER_S = 5

# Runtime builds: each step (fetch, install, check) is a container hardened like a run,
# with room for a package manager. npm keeps many files open while it unpacks.
BUILD_NOFILE = 8192

# What a run may give back besides stdout and stderr (SANDBOX_RESULTS_*, SANDBOX_OUTPUT_*
# in the settings): display() results, a number and bytes in all, and kept files. Enough
# for a notebook's charts and a report; a run that wants more is writing a dataset, and
# belongs in a custom runtime with egress to real storage.
RESULTS_MAX = 32
RESULTS_MAX_BYTES = 4 * 1024 * 1024
OUTPUT_FILE_PATTERNS_MAX = 16
OUTPUT_FILES_MAX = 32
OUTPUT_FILE_MAX_BYTES = 10 * 1024 * 1024
OUTPUT_FILES_MAX_BYTES = 32 * 1024 * 1024

# Sessions (sandbox/sessions.py). A session idle this long pauses by itself, unless it
# asks otherwise within the range (the API's contract).
SESSION_IDLE_TIMEOUT_S = 600
SESSION_MIN_IDLE_TIMEOUT_S = 10
SESSION_MAX_IDLE_TIMEOUT_S = 86_400
# An interrupted call (its time is up, or its owner asked) has this long to stop before
# its worker is killed and the session ended: KeyboardInterrupt unwinds in microseconds,
# code that ignores SIGINT or is stuck in C never does. The agent's session.py says the
# same (INTERRUPT_GRACE_S).
SESSION_INTERRUPT_GRACE_S = 1.0
# A session's sandbox writes its files (or restores saved ones) within this, plus a
# second a MiB restored.
SESSION_OPEN_TIMEOUT_S = 30.0
# A pause saves the working directory within this. What it saves is bounded by the
# working directory's own tmpfs, plus what a tar adds to it (headers, padding).
SESSION_SAVE_TIMEOUT_S = 60.0
SESSION_SAVED_MAX_BYTES = (WORK_DIR_MIB + 8) * 1024 * 1024
# How often frozen sessions are looked at, to let go of those frozen long enough.
SESSION_JANITOR_INTERVAL_S = 1.0
