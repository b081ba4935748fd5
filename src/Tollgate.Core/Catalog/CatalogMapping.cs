namespace Tollgate.Core.Catalog;

/// <summary>
/// How the catalog names a product at one payment provider: <c>providers: { &lt;Provider&gt;: { &lt;Key&gt;: id } }</c> under a
/// plan or pack (Stripe's <c>price</c>, Creem's <c>product</c>). Each provider registers its own, so the catalog reader
/// knows no provider by name. A null <paramref name="Key"/> is a provider that sells the catalog's own ids (the Sandbox):
/// the file carries nothing for it and every product maps to its id.
/// </summary>
/// <param name="Provider">The provider id, as in <c>/webhooks/{provider}</c>.</param>
/// <param name="Key">The one key of the provider's mapping; null when the catalog id is the provider's reference.</param>
public sealed record CatalogMapping(string Provider, string? Key);
