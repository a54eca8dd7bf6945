using Litecast.Host.Configuration;
using Litecast.Host.Http;

namespace Litecast.Host.Tests.Http;

/// <summary>A real Kestrel admin server on 127.0.0.1 port 0 around a <see cref="FakeNode"/> whose state the test
/// changes, and a client for it: started before each test, stopped after it.</summary>
public abstract class FakeNodeServer(AdminSecurity? security = null) : IAsyncLifetime
{
    private protected FakeNode Node { get; } = new();
    private protected AdminServer Server { get; private set; } = null!;
    private protected HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), Node, security: security);
        await Server.StartAsync();
        Http = new HttpClient { BaseAddress = Server.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.StopAsync();
        await Server.DisposeAsync();
    }
}
