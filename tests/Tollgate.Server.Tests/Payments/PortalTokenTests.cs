using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Server.Sessions;
using Tollgate.Storage;
using Tollgate.Testing;

namespace Tollgate.Server.Tests.Payments;

/// <summary>Rule: a portal link opens exactly one customer's portal, for exactly its lifetime, and nothing else does:
/// an altered, forged, truncated or malformed token, or one at or past its expiry, is refused with why. The key is the
/// real one, kept in a real (SQLite) settings store.</summary>
public sealed class PortalTokenTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private TestDatabase _db = null!;
    private PortalTokens _tokens = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite, _clock);
        _tokens = new PortalTokens(_db.Database.Settings, _clock);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    /// <summary>A token over <paramref name="claims"/> signed with the portal's real key, as only Tollgate can make one.</summary>
    private async Task<string> SignedAsync(string claims)
    {
        await _tokens.IssueAsync("cus_key", CancellationToken.None); // makes sure the key exists
        var key = Convert.FromHexString((await _db.Database.Settings.GetAsync("portal_token_secret", CancellationToken.None))!);
        var bytes = Encoding.UTF8.GetBytes(claims);
        return $"{Base64Url.EncodeToString(bytes)}.{Base64Url.EncodeToString(HMACSHA256.HashData(key, bytes))}";
    }

    private Task<(string? CustomerId, string? Problem)> Validate(string? token) => _tokens.ValidateAsync(token, CancellationToken.None);

    [Fact]
    public async Task Rule_AnIssuedToken_OpensItsCustomer_UntilOneTickBeforeItsExpiry_AndNotAtIt()
    {
        var (token, expiresAt) = await _tokens.IssueAsync("cus_alice", CancellationToken.None);

        Assert.Equal(_clock.GetUtcNow() + PortalTokens.Lifetime, expiresAt);
        Assert.Equal(("cus_alice", (string?)null), await Validate(token));
        _clock.Set(expiresAt.AddTicks(-1));
        Assert.Equal(("cus_alice", (string?)null), await Validate(token));
        _clock.Set(expiresAt);
        Assert.Equal(((string?)null, "expired"), await Validate(token));
    }

    [Fact]
    public async Task Rule_ATokenWithItsClaimsSwappedForAnotherCustomer_IsForged()
    {
        var (alice, _) = await _tokens.IssueAsync("cus_alice", CancellationToken.None);
        var (bob, _) = await _tokens.IssueAsync("cus_bob", CancellationToken.None);

        var swapped = bob.Split('.')[0] + "." + alice.Split('.')[1];

        Assert.Equal(((string?)null, "forged"), await Validate(swapped));
    }

    [Fact]
    public async Task Rule_ATokenWithOnlyTheLastByteOfItsMacChanged_IsForged()
    {
        var (token, _) = await _tokens.IssueAsync("cus_alice", CancellationToken.None);
        var parts = token.Split('.');
        var mac = Base64Url.DecodeFromChars(parts[1]);
        mac[^1] ^= 0x01;

        Assert.Equal(((string?)null, "forged"), await Validate($"{parts[0]}.{Base64Url.EncodeToString(mac)}"));
        Assert.Equal(((string?)null, "forged"), await Validate($"{parts[0]}.{Base64Url.EncodeToString(mac[..^1])}"));
    }

    [Fact]
    public async Task Rule_ATokenSignedWithAnotherKey_IsForged()
    {
        var claims = Encoding.UTF8.GetBytes($"cus_alice|{_clock.GetUtcNow().AddHours(1).ToUnixTimeSeconds()}");
        var token = $"{Base64Url.EncodeToString(claims)}.{Base64Url.EncodeToString(HMACSHA256.HashData(new byte[32], claims))}";

        Assert.Equal(((string?)null, "forged"), await Validate(token));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("no-dot-at-all")]
    [InlineData("a.b.c")]
    [InlineData("!!!.@@@")]
    public async Task Rule_AMalformedToken_IsMalformed(string? token)
    {
        Assert.Equal(((string?)null, "malformed"), await Validate(token));
    }

    [Theory]
    [InlineData("cus_alice")]
    [InlineData("|1893456000")]
    [InlineData("cus_alice|")]
    [InlineData("cus_alice|soon")]
    [InlineData("cus_alice|-1893456000")]
    [InlineData("cus_alice|+1893456000")]
    public async Task Rule_CorrectlySignedClaimsWithoutACustomerAndAnExpiry_AreMalformed(string claims)
    {
        Assert.Equal(((string?)null, "malformed"), await Validate(await SignedAsync(claims)));
    }

    [Fact]
    public async Task Rule_TheKeyIsKeptInTheDatabase_SoAnotherServerAcceptsTheToken()
    {
        var (token, _) = await _tokens.IssueAsync("cus_alice", CancellationToken.None);
        var otherServer = new PortalTokens(_db.Database.Settings, _clock);

        Assert.Equal(("cus_alice", (string?)null), await otherServer.ValidateAsync(token, CancellationToken.None));
    }
}
