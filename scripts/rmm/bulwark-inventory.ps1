<#
.SYNOPSIS
    Bulwark inventory for RMM tools: collects this Windows machine's inventory and posts it to Bulwark.

.DESCRIPTION
    For machines without the Bulwark agent. An RMM (Tactical RMM, NinjaOne, N-able, ...) runs it on a schedule as
    SYSTEM; it collects exactly what the agent's Windows collector collects (OS build and UBR, installed updates,
    uninstall entries, Exchange build from ExSetup.exe, IIS sites and bindings, URL Rewrite and the EOMT rules),
    read-only, and posts the document to POST /api/v1/tenants/<tenant>/inventory with a tenant-scoped API token.
    The server turns it into the asset's facts (source rmm) and re-judges that asset.

    Asset id: -AssetId when given (e.g. the RMM's own device id), else a random id `rmm-<16 characters>` created
    on the first run and kept in -StateFile (default %ProgramData%\Bulwark\rmm-asset-id). It is not derived from
    hardware, so two machines share it only when the file was copied with a disk image: remove the file from a
    golden image, or pass -AssetId.

    The token comes from -TokenFile, else the environment variable named by -TokenVariable (default
    BULWARK_TOKEN; RMMs hand secret script variables to the script as environment variables); it is never
    printed, and never given on the command line. Exit code 0 when the server took the inventory, 1 otherwise, with one line
    saying why.

.EXAMPLE
    powershell.exe -NoProfile -ExecutionPolicy Bypass -File bulwark-inventory.ps1 -Server https://bulwark.example.com -Tenant acme
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$Tenant,
    [string]$TokenFile,
    [string]$TokenVariable = 'BULWARK_TOKEN',
    [string]$AssetId,
    [string]$StateFile = (Join-Path $env:ProgramData 'Bulwark\rmm-asset-id'),
    [int]$TimeoutSec = 120,
    # Print the document instead of posting it.
    [switch]$DryRun
)

$ErrorActionPreference = 'Stop'

# BEGIN COLLECTOR
function Get-BulwarkInventory {
    $errors = New-Object System.Collections.Generic.List[string]

    function Add-BulwarkError([string]$Where, $Err) {
        $message = if ($Err -is [System.Management.Automation.ErrorRecord]) { $Err.Exception.Message } else { [string]$Err }
        $errors.Add(('{0}: {1}' -f $Where, $message))
    }

    # A property of a registry or CIM object, or $null when it is not there.
    function Get-BulwarkProp($Object, [string]$Name) {
        if ($null -eq $Object) { return $null }
        $p = $Object.PSObject.Properties[$Name]
        if ($p) { return $p.Value }
        return $null
    }

    # System32 as this process sees it: a 32-bit host on 64-bit Windows reaches the real one through Sysnative.
    $system32 = Join-Path $env:windir 'System32'
    if ([Environment]::Is64BitOperatingSystem -and -not [Environment]::Is64BitProcess) {
        $system32 = Join-Path $env:windir 'Sysnative'
    }

    # --- OS: caption, build and UBR -------------------------------------------------------------------------
    $os = $null
    try {
        $cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
        $caption = $null
        try { $caption = [string](Get-CimInstance -ClassName Win32_OperatingSystem).Caption } catch { Add-BulwarkError 'os.caption' $_ }
        $major = Get-BulwarkProp $cv 'CurrentMajorVersionNumber'
        $minor = Get-BulwarkProp $cv 'CurrentMinorVersionNumber'
        if ($null -eq $major) {
            $parts = ([string](Get-BulwarkProp $cv 'CurrentVersion')).Split('.')
            if ($parts.Length -ge 2) { $major = $parts[0]; $minor = $parts[1] }
        }
        $os = [ordered]@{
            caption           = $caption
            product_name      = [string](Get-BulwarkProp $cv 'ProductName')
            edition_id        = [string](Get-BulwarkProp $cv 'EditionID')
            installation_type = [string](Get-BulwarkProp $cv 'InstallationType')
            display_version   = [string](Get-BulwarkProp $cv 'DisplayVersion')
            major             = $major
            minor             = $minor
            current_build     = [string](Get-BulwarkProp $cv 'CurrentBuild')
            ubr               = Get-BulwarkProp $cv 'UBR'
        }
    } catch { Add-BulwarkError 'os' $_ }

    # --- Installed updates ----------------------------------------------------------------------------------
    $hotfixes = New-Object System.Collections.Generic.List[object]
    try {
        foreach ($h in @(Get-HotFix)) {
            $on = $null
            try { if ($h.InstalledOn) { $on = $h.InstalledOn.ToString('yyyy-MM-dd') } } catch { $on = $null }
            $hotfixes.Add([ordered]@{ id = [string]$h.HotFixID; description = [string]$h.Description; installed_on = $on })
        }
    } catch { Add-BulwarkError 'hotfixes' $_ }

    # --- Uninstall entries, both registry views -------------------------------------------------------------
    $uninstall = New-Object System.Collections.Generic.List[object]
    foreach ($view in @([Microsoft.Win32.RegistryView]::Registry64, [Microsoft.Win32.RegistryView]::Registry32)) {
        try {
            $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, $view)
            $key = $base.OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall')
            if ($key) {
                foreach ($name in $key.GetSubKeyNames()) {
                    $sub = $key.OpenSubKey($name)
                    if (-not $sub) { continue }
                    $displayName = $sub.GetValue('DisplayName')
                    if ($displayName) {
                        $uninstall.Add([ordered]@{
                            display_name    = [string]$displayName
                            display_version = [string]$sub.GetValue('DisplayVersion')
                            publisher       = [string]$sub.GetValue('Publisher')
                            view            = $(if ($view -eq [Microsoft.Win32.RegistryView]::Registry64) { '64' } else { '32' })
                            key             = [string]$name
                        })
                    }
                    $sub.Close()
                }
                $key.Close()
            }
            $base.Close()
        } catch { Add-BulwarkError ('uninstall.' + $view) $_ }
    }

    # --- Exchange: install path from the registry, exact build from ExSetup.exe ---------------------------
    $exchange = $null
    try {
        $setup = $null
        foreach ($v in @('v15', 'v14')) {
            $path = "HKLM:\SOFTWARE\Microsoft\ExchangeServer\$v\Setup"
            if (Test-Path -Path $path) { $setup = Get-ItemProperty -Path $path; break }
        }
        $installPath = Get-BulwarkProp $setup 'MsiInstallPath'
        if ($installPath) {
            $exe = Join-Path $installPath 'Bin\ExSetup.exe'
            $exchange = [ordered]@{
                install_path      = [string]$installPath
                msi_product_major = Get-BulwarkProp $setup 'MsiProductMajor'
                msi_product_minor = Get-BulwarkProp $setup 'MsiProductMinor'
                msi_build_major   = Get-BulwarkProp $setup 'MsiBuildMajor'
                msi_build_minor   = Get-BulwarkProp $setup 'MsiBuildMinor'
            }
            if (Test-Path -LiteralPath $exe) {
                $vi = (Get-Item -LiteralPath $exe).VersionInfo
                $exchange.exsetup_path = $exe
                $exchange.exsetup_file_version = [string]$vi.FileVersion
                $exchange.file_major = $vi.FileMajorPart
                $exchange.file_minor = $vi.FileMinorPart
                $exchange.file_build = $vi.FileBuildPart
                $exchange.file_private = $vi.FilePrivatePart
            } else {
                Add-BulwarkError 'exchange' ('ExSetup.exe not found at ' + $exe)
            }
        }
    } catch { Add-BulwarkError 'exchange' $_ }

    # --- IIS: sites, bindings, URL Rewrite module and rules -------------------------------------------------
    $iis = $null
    $appHost = Join-Path $system32 'inetsrv\config\applicationHost.config'
    if (Test-Path -LiteralPath $appHost) {
        $sites = New-Object System.Collections.Generic.List[object]
        $rules = New-Object System.Collections.Generic.List[object]
        $rewriteInstalled = $false
        try {
            $config = New-Object System.Xml.XmlDocument
            $config.XmlResolver = $null
            $config.Load($appHost)
            $rewriteInstalled = $null -ne $config.SelectSingleNode("/configuration/system.webServer/globalModules/add[@name='RewriteModule']")

            function Add-BulwarkRules($Nodes, [string]$Site, [string]$Source) {
                foreach ($rule in @($Nodes)) {
                    if ($rules.Count -ge 500) { return }
                    $condition = $rule.SelectSingleNode('conditions/add')
                    $action = $rule.SelectSingleNode('action')
                    $rules.Add([ordered]@{
                        site    = $Site
                        source  = $Source
                        name    = $rule.GetAttribute('name')
                        input   = $(if ($condition) { $condition.GetAttribute('input') } else { $null })
                        pattern = $(if ($condition) { $condition.GetAttribute('pattern') } else { $null })
                        action  = $(if ($action) { $action.GetAttribute('type') } else { $null })
                    })
                }
            }

            foreach ($site in @($config.SelectNodes('/configuration/system.applicationHost/sites/site'))) {
                $name = $site.GetAttribute('name')
                $bindings = New-Object System.Collections.Generic.List[object]
                foreach ($b in @($site.SelectNodes('bindings/binding'))) {
                    $bindings.Add([ordered]@{ protocol = $b.GetAttribute('protocol'); binding_information = $b.GetAttribute('bindingInformation') })
                }
                $root = $site.SelectSingleNode("application[@path='/']/virtualDirectory[@path='/']")
                $physical = $(if ($root) { [Environment]::ExpandEnvironmentVariables($root.GetAttribute('physicalPath')) } else { $null })
                $sites.Add([ordered]@{ name = $name; id = $site.GetAttribute('id'); bindings = $bindings; physical_path = $physical })

                Add-BulwarkRules $config.SelectNodes("/configuration/location[@path='$($name.Replace("'", ''))']/system.webServer/rewrite/rules/rule") $name 'applicationHost.config'
                if ($physical) {
                    $webConfig = Join-Path $physical 'web.config'
                    if (Test-Path -LiteralPath $webConfig) {
                        try {
                            $site_config = New-Object System.Xml.XmlDocument
                            $site_config.XmlResolver = $null
                            $site_config.Load($webConfig)
                            Add-BulwarkRules $site_config.SelectNodes('/configuration/system.webServer/rewrite/rules/rule') $name 'web.config'
                        } catch { Add-BulwarkError ('iis.web.config ' + $name) $_ }
                    }
                }
            }
        } catch { Add-BulwarkError 'iis' $_ }
        $rewriteVersion = $null
        foreach ($e in $uninstall) {
            if ($e.display_name -like 'IIS URL Rewrite Module*') { $rewriteInstalled = $true; $rewriteVersion = $e.display_version }
        }
        $iis = [ordered]@{
            sites         = $sites
            url_rewrite   = [ordered]@{ installed = $rewriteInstalled; version = $rewriteVersion }
            rewrite_rules = $rules
        }
    }

    $fqdn = $env:COMPUTERNAME
    try { $fqdn = [System.Net.Dns]::GetHostEntry('').HostName } catch { Add-BulwarkError 'fqdn' $_ }

    return [ordered]@{
        schema        = 'bulwark-windows-inventory/1'
        collected_at  = (Get-Date).ToUniversalTime().ToString('o')
        computer_name = $env:COMPUTERNAME
        fqdn          = $fqdn
        os            = $os
        hotfixes      = $hotfixes
        uninstall     = $uninstall
        exchange      = $exchange
        iis           = $iis
        errors        = $errors
    }
}
# END COLLECTOR

# The asset id this machine reports under: given, else kept in the state file, else new and kept.
function Get-BulwarkAssetId {
    if ($AssetId) { return $AssetId }
    if (Test-Path -LiteralPath $StateFile) {
        $kept = (Get-Content -LiteralPath $StateFile -Raw).Trim()
        if ($kept -match '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') { return $kept }
    }
    $alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
    $bytes = New-Object byte[] 16
    $rng = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    $rng.GetBytes($bytes)
    $id = 'rmm-' + (-join ($bytes | ForEach-Object { $alphabet[$_ % $alphabet.Length] }))
    $dir = Split-Path -Parent $StateFile
    if (-not (Test-Path -LiteralPath $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
    Set-Content -LiteralPath $StateFile -Value $id -Encoding ASCII
    return $id
}

try {
    [Console]::OutputEncoding = [System.Text.Encoding]::UTF8
    $id = Get-BulwarkAssetId
    $document = Get-BulwarkInventory
    $body = [ordered]@{ asset_id = $id; windows = $document } | ConvertTo-Json -Depth 8 -Compress
    if ($DryRun) { $body; exit 0 }

    $token = [Environment]::GetEnvironmentVariable($TokenVariable)
    if ($TokenFile) { $token = (Get-Content -LiteralPath $TokenFile -Raw).Trim() }
    if (-not $token) { throw ('no API token: set the environment variable {0} or pass -TokenFile' -f $TokenVariable) }
    # Windows PowerShell 5.1 offers TLS 1.0 only unless told otherwise.
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

    $uri = '{0}/api/v1/tenants/{1}/inventory' -f $Server.TrimEnd('/'), [Uri]::EscapeDataString($Tenant)
    $answer = Invoke-RestMethod -Method Post -Uri $uri -TimeoutSec $TimeoutSec -UseBasicParsing `
        -Headers @{ Authorization = "Bearer $token" } -ContentType 'application/json; charset=utf-8' `
        -Body ([System.Text.Encoding]::UTF8.GetBytes($body))
    'Bulwark: asset {0} {1} ({2} findings written)' -f $answer.asset_id, $answer.outcome, $answer.findings_written
    if ($document.errors.Count -gt 0) { 'Bulwark: parts not collected: ' + ($document.errors -join '; ') }
    exit 0
} catch {
    $message = $_.Exception.Message
    if ($_.ErrorDetails -and $_.ErrorDetails.Message) { $message = $_.ErrorDetails.Message }
    'Bulwark inventory failed: ' + $message
    exit 1
}
