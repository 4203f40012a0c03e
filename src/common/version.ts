/** The KubeMom version, reported by the sidecar's Describe and the CLI. */
export const KUBEMOM_VERSION = '0.1.0';
