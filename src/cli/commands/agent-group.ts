/**
 * The `bulwark agent` command group: enrolment and the agent process (commands/agent.ts) and enrolment tokens
 * (`agent token`, commands/agents.ts). Each command module adds its subcommands here with one line; the modules
 * load their work lazily, so the group costs nothing to commands that do not use it.
 */
import type { Command } from 'commander';
import type { Io } from '../io.js';
import { registerAgentEnrollRun } from './agent.js';
import { registerAgentsCommands, registerAgentToken } from './agents.js';

/** What a command module needs from main: where to write and how to set the exit code. */
export interface CommandHost {
  io: Io;
  setCode(code: number): void;
}

export function registerAgentGroup(program: Command, host: CommandHost): Command {
  const agent = program
    .command('agent')
    .description('the endpoint agent: enrol this machine, run the agent, make enrolment tokens');
  registerAgentEnrollRun(agent, host);
  registerAgentToken(agent, host);
  // The operator's side of agents: `bulwark agents …` and `bulwark agent-jobs …`.
  registerAgentsCommands(program, host);
  return agent;
}
