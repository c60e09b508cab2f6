/** The part of avro-js (no types of its own) that ESync uses: parsing a schema with custom types. */
declare module 'avro-js' {
  namespace avro {
    interface Type {
      fromBuffer(buffer: Buffer): unknown;
      getName(): string | undefined;
    }
    interface RecordField {
      getName(): string;
      getType(): Type;
    }
    interface ParseOptions {
      /** Named types to use in place of the built-in ones, e.g. `long`. */
      readonly registry?: Record<string, Type>;
      /** Constructors of logical types by name, e.g. `decimal`. */
      readonly logicalTypes?: Record<
        string,
        new (
          attrs: Record<string, unknown>,
          opts: ParseOptions,
        ) => Type
      >;
    }
    interface LongMethods {
      fromBuffer(buffer: Buffer): unknown;
      toBuffer(value: unknown): Buffer;
      fromJSON(value: unknown): unknown;
      toJSON(value: unknown): unknown;
      isValid(value: unknown): boolean;
      compare(a: unknown, b: unknown): number;
    }
    const types: {
      readonly Type: abstract new () => Type;
      readonly LogicalType: abstract new (
        attrs: Record<string, unknown>,
        opts: ParseOptions,
        underlying?: readonly (abstract new () => Type)[],
      ) => Type & { _fromValue(value: unknown): unknown; _toValue(value: unknown): unknown };
      readonly RecordType: abstract new () => Type & { getFields(): RecordField[] };
      readonly UnionType: abstract new () => Type & { getTypes(): Type[] };
      readonly ArrayType: abstract new () => Type & { getItemsType(): Type };
      readonly MapType: abstract new () => Type & { getValuesType(): Type };
      readonly BytesType: abstract new () => Type;
      readonly FixedType: abstract new () => Type;
      readonly LongType: (abstract new () => Type) & { using(methods: LongMethods): Type };
      readonly DoubleType: abstract new () => Type;
      readonly FloatType: abstract new () => Type;
      readonly IntType: abstract new () => Type;
    };
    function parse(schema: string | Record<string, unknown> | readonly unknown[], opts?: ParseOptions): Type;
  }
  export default avro;
}
