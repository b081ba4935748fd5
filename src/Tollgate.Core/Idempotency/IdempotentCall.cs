namespace Tollgate.Core.Idempotency;

/// <summary>
/// A call of the HTTP API made with an <c>Idempotency-Key</c>, handed to the ledger with the write it asks for. The
/// ledger stores the call's response under (<see cref="Scope"/>, <see cref="Key"/>) in the transaction that makes the
/// write, so a response is stored exactly when its effect commits; a later call under the same key is answered from
/// what was stored (replayed for the same request, refused for another).
/// </summary>
/// <param name="Scope">The calling API key's scope: keys of different API keys never meet.</param>
/// <param name="RequestHash">Method, path and body, hashed: the same key with another request is refused.</param>
/// <param name="Render">Turns the call's outcome into the response to store and answer. It runs inside the ledger's
/// batch, before the commit: it must be quick and do no I/O. The ledger sets the stored response's request hash.</param>
public sealed record IdempotentCall<TResult>(string Scope, string Key, string RequestHash, Func<TResult, StoredResponse> Render);
