/**
 * Records built from parts the code has already typed and checked (a row read back from the
 * store, a record derived from another): the schema-class constructor, even with validation off,
 * copies and scans the props again, which shows on hot paths.
 */

/**
 * An instance of a schema class from props that are already typed and valid, without the
 * constructor: the same object it makes (the prototype, the props as own fields, as a
 * `Data.Class` assigns them), for about a tenth of the cost. Never for input from outside.
 */
export const make = <C extends new(props: any, options?: any) => any>(
  klass: C,
  props: ConstructorParameters<C>[0]
): InstanceType<C> => Object.assign(Object.create(klass.prototype), props)
