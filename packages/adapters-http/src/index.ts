/**
 * @airlock/adapters-http — The reference HTTP adapter on @effect/platform HttpApi.
 *
 * Under construction: see the project's open issues. Nothing is exported yet.
 */
export {}
