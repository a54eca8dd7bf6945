using Litecast.Host.Security;

namespace Litecast.Host.Cli;

/// <summary><c>litecast cert ca</c> and <c>litecast cert node</c>: write the files, then say how to use them.</summary>
public static class CertCommand
{
    /// <summary>Runs <paramref name="command"/> (a <see cref="CertCaCommand"/> or <see cref="CertNodeCommand"/>); 0 on
    /// success, 1 with a message naming the file at fault.</summary>
    public static int Run(CliCommand command, TextWriter output, TextWriter error)
    {
        try
        {
            switch (command)
            {
                case CertCaCommand ca:
                    Written(CertificateAuthority.CreateCa(ca.Out), output);
                    output.WriteLine($"Next: litecast cert node -ca {ca.Out} -name NODE -ip NODE_IP -out DIR, once per node.");
                    output.WriteLine($"Keep {Path.Combine(ca.Out, CertificateAuthority.CaKeyFile)} off the nodes: it signs certificates.");
                    return 0;
                case CertNodeCommand node:
                    var files = CertificateAuthority.CreateNode(node.Ca, node.Name, node.Ips, node.DnsNames, node.Out);
                    Written(files, output);
                    output.WriteLine("In that node's litecast.yml:");
                    output.WriteLine("tls:");
                    output.WriteLine($"  cert: {Path.GetFullPath(files[0])}");
                    output.WriteLine($"  key: {Path.GetFullPath(files[1])}");
                    // The CA's certificate is in -out either way: copied there, or -out is where it already was.
                    output.WriteLine($"  ca: {Path.GetFullPath(Path.Combine(node.Out, CertificateAuthority.CaCertificateFile))}");
                    return 0;
                default:
                    throw new ArgumentException($"not a cert command: {command}", nameof(command));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TlsFileException or ArgumentException)
        {
            error.WriteLine($"litecast cert: {e.Message}");
            return 1;
        }
    }

    private static void Written(IEnumerable<string> files, TextWriter output)
    {
        foreach (var file in files) output.WriteLine($"wrote {file}");
    }
}
