import { describe, expect, it } from "vitest";
import { AGENT_STATES, agentStateInfo, CONNECTION_STATES, connectionInfo, EXECUTION_STATUSES } from "./states";

// ohnb.schema.AGENT_STATES (tests/test_widget.py checks the Python side against this file).
const V0 = ["loading", "init", "running", "awaiting_user_input", "paused", "stopped", "finished", "rejected", "error",
  "awaiting_user_confirmation", "user_confirmed", "user_rejected", "rate_limited"];
const V1 = ["idle", "running", "paused", "waiting_for_confirmation", "finished", "error", "stuck", "deleting"];

describe("states", () => {
  it("gives every AgentState and execution_status its own label and a tone", () => {
    for (const state of [...V0, ...V1]) {
      const info = agentStateInfo(state);
      expect(info.label).not.toBe("");
      expect(["neutral", "progress", "attention", "warning", "success", "danger"]).toContain(info.tone);
      expect(AGENT_STATES[state] ?? EXECUTION_STATUSES[state]).toBe(info);
      expect(agentStateInfo(state.toUpperCase())).toBe(info);
    }
    expect(agentStateInfo("running").tone).toBe("progress");
    expect(agentStateInfo("finished").tone).toBe("success");
    expect(agentStateInfo("error").tone).toBe("danger");
    expect(agentStateInfo("stuck").tone).toBe("danger");
    expect(agentStateInfo("awaiting_user_input").tone).toBe("attention");
  });

  it("names unknown states plainly, and no state", () => {
    expect(agentStateInfo("some_new_state")).toMatchObject({ label: "Some new state", tone: "neutral" });
    expect(agentStateInfo(null).label).toBe("No state");
  });

  it("covers every connection state", () => {
    for (const s of ["CONNECTING", "OPEN", "RECONNECTING", "CLOSED", "FAILED", "STORED"]) expect(connectionInfo(s)).toBe(CONNECTION_STATES[s]);
    expect(connectionInfo("OPEN").tone).toBe("success");
    expect(connectionInfo("FAILED").tone).toBe("danger");
  });
});
