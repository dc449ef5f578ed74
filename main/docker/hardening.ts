/**
 * Limits every container of a generated server runs under, shared by the docker target
 * (HostConfig) and the generated docker-compose.yml, so both run the same way.
 */

/**
 * Most processes and threads a container may hold. The server runs one uvicorn process with a
 * few threads per inference worker; the limit stops a fork bomb or a thread leak in the model's
 * code from exhausting the host's pid space.
 */
export const CONTAINER_PIDS_LIMIT = 256;
