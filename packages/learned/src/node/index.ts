/**
 * `@opt/learned/node`: the Node-only parts (worker threads, checkpoint files).
 *
 * @packageDocumentation
 */
