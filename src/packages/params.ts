import { z } from 'zod';
import { organizationParam } from '../domain/scope.js';
import { listConveniences } from './list-query.js';

/** The query of `GET /packages/{ref}`: which organization to look in. */
export const scopeQuery = z.strictObject({
  organization: organizationParam.optional().meta({ description: 'Organization id (org_…) or sub-domain; needs a key that lists it' }),
});

/** The query of `GET /packages`: the scope, then conveniences applied to the cached list. */
export const listQuery = z.strictObject({
  organization: scopeQuery.shape.organization,
  group: listConveniences.group.optional().meta({ description: 'Group id or name (filled from each package\'s detail)' }),
  min_cpu_cores: listConveniences.min_cpu_cores.optional(),
  min_memory_gb: listConveniences.min_memory_gb.optional(),
  min_storage_gb: listConveniences.min_storage_gb.optional(),
  min_bandwidth_gb: listConveniences.min_bandwidth_gb.optional().meta({ description: 'Monthly bandwidth allowance, filled from each package\'s detail' }),
  dedicated: listConveniences.dedicated.optional(),
  privacy: listConveniences.privacy.optional(),
  sort: listConveniences.sort.optional().meta({ description: 'A field, with - in front for descending' }),
  fields: listConveniences.fields.optional().meta({ description: 'Comma-separated fields to keep' }),
  group_by: listConveniences.group_by.optional().meta({ description: '`group`: the packages in their groups, `{"groups":[{id,name,packages}]}`, unknown group last' }),
  complete: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((v) => v === 'true')
    .optional()
    .meta({ description: '`true`: wait (at most 3 s) for the details not known yet, fetched at this consumer\'s charge' }),
});
