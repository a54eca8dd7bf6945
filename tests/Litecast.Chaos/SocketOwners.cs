using System.Globalization;

namespace Litecast.Chaos;

/// <summary>
/// Which node opened a loopback TCP connection. Every node dials the same relay port for a given peer, so the relay
/// cannot tell its clients apart by address; the kernel can: the client's socket (its ephemeral port, connected to the
/// relay's port) has an inode in /proc/net/tcp(6), and the process owning it has a /proc/PID/fd link to that inode.
/// This lets a relay cut or delay the link between two given nodes, not every connection to one node.
/// </summary>
internal static class SocketOwners
{
    /// <summary>The name of the node in <paramref name="nodes"/> that owns the client end (<paramref name="clientPort"/>
    /// connected to <paramref name="serverPort"/>), or null when none does (or it died meanwhile).</summary>
    public static string? Find(int clientPort, int serverPort, IEnumerable<(string Name, int Pid)> nodes)
    {
        var inode = FindInode(clientPort, serverPort);
        if (inode is null) return null;
        var link = $"socket:[{inode}]";
        foreach (var (name, pid) in nodes)
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    string? target;
                    try { target = new FileInfo(fd).LinkTarget; }
                    catch (IOException) { continue; }
                    catch (UnauthorizedAccessException) { continue; }
                    if (target == link) return name;
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    private static string? FindInode(int localPort, int remotePort)
    {
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            string[] lines;
            try { lines = File.ReadAllLines(table); }
            catch (IOException) { continue; }
            foreach (var line in lines.Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10) continue;
                if (Port(fields[1]) == localPort && Port(fields[2]) == remotePort && fields[9] != "0") return fields[9];
            }
        }
        return null;
    }

    // "0100007F:1F90": the port is the hex after the colon.
    private static int Port(string address) =>
        int.TryParse(address.AsSpan(address.LastIndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port) ? port : -1;
}
