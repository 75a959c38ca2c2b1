// A small program on the types openapi-typescript generates from openapi/schema.yaml (as
// ./schema.d.ts): the published rating counts of a year, and the API's error envelope.
// Type-checked only (clients/check_typescript.sh: tsc --strict --noEmit).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type RatingCounts = components["schemas"]["RatingCountsResponse"];
type ValidationError = components["schemas"]["ValidationErrorResponse"];
type ClientError = components["schemas"]["ClientErrorResponse"];
type ErrorEnvelope = ValidationError | ClientError | components["schemas"]["ParseErrorResponse"];

export function describeError(error: ErrorEnvelope): string {
  return error.errors
    .map((item) => (item.attr ? `${item.attr}: ${item.code}` : item.code))
    .join(", ");
}

export function percentages(counts: RatingCounts): string {
  const { a_percentage, b_percentage, c_percentage } = counts.overall;
  return `${counts.fiscal_year_label}: A ${a_percentage}% B ${b_percentage}% C ${c_percentage}%`;
}

export async function publishedRatings(baseUrl: string, plan: string, year: string) {
  const client = createClient<paths>({ baseUrl });
  const { data, error, response } = await client.GET("/api/v1/aggregates/ratings/", {
    params: { query: { plan, fiscal_year: year } },
  });
  if (error !== undefined) {
    throw new Error(`${response.status}: ${describeError(error)}`);
  }
  const byPillar = await client.GET("/api/v1/aggregates/ratings/", {
    params: { query: { plan, fiscal_year: year, group_by: "pillar" } },
  });
  const groups = byPillar.data?.groups ?? [];
  return { summary: percentages(data), groups: groups.length };
}

export async function reportCsv(baseUrl: string, plan: string, year: string): Promise<string> {
  const client = createClient<paths>({ baseUrl });
  const { data, error } = await client.GET("/api/v1/reports/yearly/", {
    params: { query: { plan, fiscal_year: year, format: "csv" } },
    parseAs: "text",
  });
  if (error !== undefined) {
    throw new Error(describeError(error));
  }
  return data;
}
