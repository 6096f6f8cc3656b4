// Labels and color tones of agent states (V0 AgentState, V1 execution_status) and connection states.
// A tone names a JupyterLab color family (widget.css maps it to --jp-*-color1), so badges follow the
// light and dark themes.

export type Tone = "neutral" | "progress" | "attention" | "warning" | "success" | "danger";

export interface StateInfo {
  label: string;
  tone: Tone;
  /** One sentence for the badge's tooltip. */
  help: string;
}

/** OpenHands AgentState (openhands/core/schema/agent.py; `init` in older data). */
export const AGENT_STATES: Record<string, StateInfo> = {
  loading: { label: "Loading", tone: "neutral", help: "The agent is starting." },
  init: { label: "Initializing", tone: "neutral", help: "The agent is initializing." },
  running: { label: "Running", tone: "progress", help: "The agent is working." },
  awaiting_user_input: { label: "Awaiting input", tone: "attention", help: "The agent waits for your message." },
  paused: { label: "Paused", tone: "warning", help: "The agent is paused; Resume continues." },
  stopped: { label: "Stopped", tone: "neutral", help: "The agent was stopped." },
  finished: { label: "Finished", tone: "success", help: "The agent finished its task." },
  rejected: { label: "Rejected", tone: "danger", help: "The agent rejected the task." },
  error: { label: "Error", tone: "danger", help: "The agent hit an error." },
  awaiting_user_confirmation: { label: "Awaiting confirmation", tone: "attention", help: "The agent waits for you to confirm an action." },
  user_confirmed: { label: "Confirmed", tone: "progress", help: "You confirmed the action." },
  user_rejected: { label: "Action rejected", tone: "warning", help: "You rejected the action." },
  rate_limited: { label: "Rate limited", tone: "warning", help: "The LLM provider is rate limiting the agent." },
};

/** V1 agent server ConversationExecutionStatus. */
export const EXECUTION_STATUSES: Record<string, StateInfo> = {
  idle: { label: "Idle", tone: "attention", help: "The conversation is idle." },
  running: AGENT_STATES.running,
  paused: AGENT_STATES.paused,
  waiting_for_confirmation: { label: "Awaiting confirmation", tone: "attention", help: "The agent waits for you to confirm an action." },
  finished: AGENT_STATES.finished,
  error: AGENT_STATES.error,
  stuck: { label: "Stuck", tone: "danger", help: "The agent seems stuck in a loop." },
  deleting: { label: "Deleting", tone: "neutral", help: "The conversation is being deleted." },
};

/** ohnb's connection states (Conversation.connection_state), plus STORED for a DataFrame. */
export const CONNECTION_STATES: Record<string, StateInfo> = {
  CONNECTING: { label: "Connecting", tone: "progress", help: "Connecting to the OpenHands server." },
  OPEN: { label: "Connected", tone: "success", help: "Connected to the OpenHands server." },
  RECONNECTING: { label: "Reconnecting", tone: "warning", help: "The connection was lost; reconnecting." },
  CLOSED: { label: "Closed", tone: "neutral", help: "The connection is closed." },
  FAILED: { label: "Failed", tone: "danger", help: "Every connection attempt failed." },
  STORED: { label: "Stored", tone: "neutral", help: "A stored conversation (a DataFrame): read-only." },
};

function humanize(value: string): string {
  const words = value.replace(/[_$]+/g, " ").trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : value;
}

/** The label and tone of an agent state or execution status (any case); unknown values are neutral. */
export function agentStateInfo(state: string | null | undefined): StateInfo {
  if (!state) return { label: "No state", tone: "neutral", help: "No agent state seen yet." };
  const key = state.toLowerCase();
  return AGENT_STATES[key] ?? EXECUTION_STATUSES[key] ?? { label: humanize(state), tone: "neutral", help: `Agent state ${state}.` };
}

export function connectionInfo(state: string): StateInfo {
  return CONNECTION_STATES[state.toUpperCase()] ?? { label: humanize(state), tone: "neutral", help: state };
}

/** States in which the agent is working (Pause makes sense). */
const BUSY = new Set(["running", "user_confirmed", "awaiting_user_confirmation", "waiting_for_confirmation", "rate_limited"]);
const PAUSED = new Set(["paused"]);
const ENDED = new Set(["stopped"]);

export function isPaused(state: string | null | undefined): boolean {
  return !!state && PAUSED.has(state.toLowerCase());
}

export function isStopped(state: string | null | undefined): boolean {
  return !!state && ENDED.has(state.toLowerCase());
}

export function isBusy(state: string | null | undefined): boolean {
  return !!state && BUSY.has(state.toLowerCase());
}
