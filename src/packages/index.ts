import type { CacheEngine } from '../cache/engine.js';
import { packageRefParam, parseRef, type PackageLookup } from './ref.js';
import type { ResourceDefinition } from '../resource/resource.js';
import { mountPackageCompat } from './compat.js';
import { packageKeys } from './hit-path.js';
import { LIST_PATTERNS, purgePatterns } from './keys.js';
import { documentPackages } from './openapi.js';
import { packageRoutes } from './routes.js';
import { memberOf, PackageService } from './service.js';
import { ListDetails } from './details.js';

/** Katapult's virtual machine packages: the first cached resource. */
export const packagesResource: ResourceDefinition = {
  notFound: {
    package_not_found: {
      message: 'no package matches this id or permalink',
      katapult: 'No package was found matching any of the criteria provided in the arguments',
    },
  },
  create(parts) {
    const { config } = parts;
    const packages = new PackageService(parts.engine, parts.client, config.detailFreshMs);
    const details = config.listDetails ? new ListDetails(parts.engine, packages, parts.clock) : null;
    return {
      routes: packageRoutes({ kit: parts.kit, engine: parts.engine, packages, details }),
      compat: mountPackageCompat({ packages, causeOf: parts.kit.causeOf }),
      document: documentPackages,
      purgeItems: { package: packageRefParam },
      purgePatterns: async (target) => {
        if (!('item' in target)) return purgePatterns(target);
        const ref = target.item === 'package' ? parseRef(target.ref) : null;
        return ref ? purgePatterns(target, await packageIds(ref, parts.engine)) : [];
      },
      settle: async () => details?.settle(),
      fastKeys: packageKeys(parts.engine, details),
    };
  },
};

/** The ids a purge of `lookup` names: the id itself, or the ids that the lists held in either tier give a permalink. */
async function packageIds(lookup: PackageLookup, engine: CacheEngine): Promise<string[]> {
  if (lookup.by === 'id') return [lookup.value];
  const lists = await engine.matching(LIST_PATTERNS);
  return [...new Set(lists.flatMap((list) => (list.kind === 'found' ? (memberOf(list, lookup)?.id ?? []) : [])))];
}
