using Tollgate.Core.Common;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Customers;

/// <summary>What <see cref="Organizations.PutAsync"/> did: the customer as stored, or a refusal (and nothing changed).</summary>
public sealed record CustomerOutcome(Customer? Customer, TollgateRefusal? Refusal, string? Message);

/// <summary>
/// Customers and the organizations they are billed on. A member's checks, usage and holds are answered and charged on
/// its billing customer (the <see cref="Gate"/> resolves it); attaching a member takes one of the organization's seats
/// when the catalog counts seats, detaching frees it. One level only: a billing customer is not itself a member, and a
/// customer with members cannot become one.
/// </summary>
/// <remarks>
/// An attach is one flow transaction: the member's row locked first, then the organization's (the lock the ledger
/// takes for its writes), so concurrent attaches to one organization queue on it and each sees the seats the one
/// before took; the seat's count entry and the member's new billing customer commit together or not at all.
/// </remarks>
public sealed class Organizations(ICustomerStore customers, Gate gate, IDatabaseTransactions transactions, TimeProvider time)
{
    private const int Attempts = 5;

    /// <summary>Creates or updates a customer (null fields stay as they are); with <paramref name="setBilling"/>, also
    /// sets its billing customer to <paramref name="billingCustomerId"/> (null: billed on itself again). Refused → nothing
    /// changed, the other fields neither.</summary>
    public async Task<CustomerOutcome> PutAsync(string id, string? email, string? name, IReadOnlyDictionary<string, string>? metadata,
        bool setBilling, string? billingCustomerId, CancellationToken cancellationToken)
    {
        if (!setBilling)
        {
            return new CustomerOutcome(await customers.UpsertAsync(id, email, name, metadata, time.GetUtcNow(), cancellationToken).ConfigureAwait(false),
                null, null);
        }

        if (billingCustomerId == id)
        {
            return new CustomerOutcome(null, TollgateRefusal.InvalidRequest, "billing_customer_id cannot be the customer itself.");
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await AttachAsync(id, email, name, metadata, billingCustomerId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < Attempts && transactions.IsTransient(ex))
            {
                // A deadlock between two moves that lock the same rows in opposite orders: nothing was kept, run it again.
            }
        }
    }

    private async Task<CustomerOutcome> AttachAsync(string id, string? email, string? name, IReadOnlyDictionary<string, string>? metadata,
        string? billingCustomerId, CancellationToken cancellationToken)
    {
        string? previous = null;
        Customer stored;
        await using (var transaction = transactions.Begin())
        {
            var now = Instants.Now(time);
            await customers.UpsertAsync(id, email, name, metadata, now, cancellationToken).ConfigureAwait(false);
            var member = (await customers.LockAsync(id, cancellationToken).ConfigureAwait(false))!;
            previous = member.BillingCustomerId;
            if (previous == billingCustomerId)
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return new CustomerOutcome(member, null, null);
            }

            if (billingCustomerId is not null)
            {
                var organization = await customers.LockAsync(billingCustomerId, cancellationToken).ConfigureAwait(false);
                if (organization is null)
                {
                    return new CustomerOutcome(null, TollgateRefusal.CustomerNotFound,
                        $"No customer '{billingCustomerId}' to bill on; create it first (PUT /v1/customers/{billingCustomerId}).");
                }

                if (organization.BillingCustomerId is { } above)
                {
                    return new CustomerOutcome(null, TollgateRefusal.Conflict,
                        $"'{billingCustomerId}' is itself billed on '{above}': a billing customer cannot be a member (one level only).");
                }

                if (await customers.HasMembersAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    return new CustomerOutcome(null, TollgateRefusal.Conflict,
                        $"'{id}' has members of its own: detach them before it is billed on another customer (one level only).");
                }
            }

            if (previous is not null)
            {
                await gate.SeatAsync(previous, id, -1, cancellationToken).ConfigureAwait(false);
            }

            if (billingCustomerId is not null
                && await gate.SeatAsync(billingCustomerId, id, +1, cancellationToken).ConfigureAwait(false) is { Allowed: false } refused)
            {
                // Disposed without a commit: the freed seat, the upsert, all of it rolls back.
                return new CustomerOutcome(null, refused.Refusal, refused.Message);
            }

            await customers.SetBillingCustomerAsync(id, billingCustomerId, now, cancellationToken).ConfigureAwait(false);
            stored = (await customers.GetAsync(id, cancellationToken).ConfigureAwait(false))!;
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        // The ledger wrote inside the flow: this process's views of the organizations are dropped, as after a webhook.
        gate.Invalidate(id);
        if (previous is not null)
        {
            gate.Invalidate(previous);
        }

        if (billingCustomerId is not null)
        {
            gate.Invalidate(billingCustomerId);
        }

        return new CustomerOutcome(stored, null, null);
    }

    /// <summary>A page of the members billed on <paramref name="billingCustomerId"/>, by id, after <paramref name="after"/>;
    /// null when there is no such customer.</summary>
    public async Task<MemberPage?> MembersAsync(string billingCustomerId, string? after, int limit, CancellationToken cancellationToken)
    {
        if (await customers.GetAsync(billingCustomerId, cancellationToken).ConfigureAwait(false) is null)
        {
            return null;
        }

        // One more than the page: whether there is a next page, without a second query.
        var members = await customers.ListMembersAsync(billingCustomerId, after, limit + 1, cancellationToken).ConfigureAwait(false);
        return new MemberPage([.. members.Take(limit)], members.Count > limit ? members[limit - 1].Id : null);
    }
}

/// <summary>One page of an organization's members.</summary>
/// <param name="Members">The members of the page, by id.</param>
/// <param name="Next">The last member's id when another page follows (the next page's "after"); null on the last.</param>
public sealed record MemberPage(IReadOnlyList<Customer> Members, string? Next);
