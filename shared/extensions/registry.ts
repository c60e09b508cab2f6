import { CustomValidatorRegistry } from '../domain/validation.ts';
import { ConfigError } from '../errors.ts';
import {
  EXTENSION_MARK,
  type ExtensionDefinition,
  type ExtensionKind,
  isExtensionDefinition,
  type SourceDefinition,
  type TargetDefinition,
} from './definitions.ts';

/** One extension module as loaded: its file and its exports. */
export interface ExtensionModule {
  /** The module's file, as reported in errors (relative to the working directory where it helps). */
  readonly file: string;
  readonly exports: Readonly<Record<string, unknown>>;
}

function nameOf(definition: ExtensionDefinition): string {
  return definition[EXTENSION_MARK] === 'validator' ? definition.name : definition.type;
}

/**
 * The validators, sources and targets that extension modules register, beside the built-in
 * validators. A plain object passed where needed (the process's own is {@link installedExtensions}),
 * so tests and local stacks do not leak extensions into each other.
 */
export class ExtensionRegistry {
  readonly validators = new CustomValidatorRegistry();
  readonly #sources = new Map<string, SourceDefinition>();
  readonly #targets = new Map<string, TargetDefinition>();
  /** Where each name was registered, by kind, to name both files of a duplicate. */
  readonly #files = new Map<string, string>();
  readonly #kindsByFile = new Map<string, Set<ExtensionKind>>();

  /**
   * The registry of every definition the modules export (in export order).
   * @throws ConfigError when a module registers nothing, or two definitions of one kind share a name
   */
  static fromModules(modules: readonly ExtensionModule[]): ExtensionRegistry {
    const registry = new ExtensionRegistry();
    for (const module of modules) {
      const definitions = Object.values(module.exports).filter(isExtensionDefinition);
      if (definitions.length === 0)
        throw new ConfigError(
          `${module.file} exports no validator, source or target (defineValidator, defineSource, defineTarget); helpers belong in a subfolder`,
        );
      for (const definition of definitions) registry.add(definition, module.file);
    }
    return registry;
  }

  /** Registers one definition, exported by `file`. */
  add(definition: ExtensionDefinition, file: string): this {
    const kind = definition[EXTENSION_MARK];
    const name = nameOf(definition);
    const earlier = this.#files.get(`${kind}:${name}`);
    if (earlier !== undefined || (kind === 'validator' && this.validators.get(name) !== undefined))
      throw new ConfigError(
        `${file}: a ${kind} named "${name}" is already registered${earlier ? ` by ${earlier}` : ' (built in)'}`,
      );
    if (definition[EXTENSION_MARK] === 'validator')
      this.validators.registerValidator(definition.name, definition.validate);
    else if (definition[EXTENSION_MARK] === 'source') this.#sources.set(definition.type, definition);
    else this.#targets.set(definition.type, definition);
    this.#files.set(`${kind}:${name}`, file);
    const kinds = this.#kindsByFile.get(file) ?? new Set();
    this.#kindsByFile.set(file, kinds.add(kind));
    return this;
  }

  source(type: string): SourceDefinition | undefined {
    return this.#sources.get(type);
  }

  target(type: string): TargetDefinition | undefined {
    return this.#targets.get(type);
  }

  /** Registered names of a kind, sorted (validators include the built-in ones). */
  names(kind: ExtensionKind): string[] {
    if (kind === 'validator') return this.validators.names();
    return [...(kind === 'source' ? this.#sources : this.#targets).keys()].sort();
  }

  /** Each module file and the kinds it registers, in load order: what the CDK app bundles where. */
  modules(): { readonly file: string; readonly kinds: readonly ExtensionKind[] }[] {
    return [...this.#kindsByFile].map(([file, kinds]) => ({ file, kinds: [...kinds].sort() }));
  }
}
