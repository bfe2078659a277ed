/** The agent's version as it reports it at enrolment and in every hello: the package version. */
export const AGENT_VERSION = '0.1.0';
