import type { Resource, ResourceParts } from '../resource/resource.js';
import { mountPackageCompat } from './compat.js';
import { createHitPath } from './hit-path.js';
import { purgePatterns } from './keys.js';
import { documentPackages } from './openapi.js';
import { packageRoutes } from './routes.js';
import { PackageService } from './service.js';
import { ListDetails } from './details.js';
import { requestCause } from '../http/cause.js';

/** Katapult's virtual machine packages: the first cached resource. */
export function packagesResource(parts: ResourceParts): Resource {
  const { config } = parts;
  const packages = new PackageService(parts.engine, parts.client, config.detailFreshMs);
  const details = config.listDetails ? new ListDetails(parts.engine, parts.store, packages, parts.clock) : null;
  const causeOf = requestCause({ ...config, clock: parts.clock });
  return {
    routes: packageRoutes({ ...parts, ...config, packages, details, causeOf, l1: parts.store.l1 }),
    compat: mountPackageCompat({ packages, causeOf }),
    document: documentPackages,
    purgePatterns,
    settle: async () => details?.settle(),
    fastPath: createHitPath(parts.store.l1, parts.clock, parts.requestLog, parts.onFastHit, { ...config, cors: parts.cors, details }),
  };
}
