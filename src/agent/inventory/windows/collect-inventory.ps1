<#
.SYNOPSIS
    Bulwark inventory collector for Windows: prints one JSON document (schema bulwark-windows-inventory/1).

.DESCRIPTION
    Read-only. Collects the OS caption, build and UBR (registry CurrentVersion), installed updates (Get-HotFix),
    the uninstall registry entries of both registry views, the Exchange install path (registry) and the exact
    build from ExSetup.exe's file version, the IIS sites and bindings and the URL Rewrite rules of each site (read
    from applicationHost.config and each site's web.config, the files WebAdministration and appcmd read, so it
    works without the WebAdministration module and from a 32-bit host process), and whether the URL Rewrite
    module is installed. A part that cannot be read is named in `errors`; the rest is still printed.

    The agent runs this file; scripts/rmm/bulwark-inventory.ps1 carries the same collector between the
    BEGIN COLLECTOR / END COLLECTOR lines (a test keeps the two identical).

    Windows PowerShell 5.1 or PowerShell 7.
#>
[CmdletBinding()]
param()

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

[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
Get-BulwarkInventory | ConvertTo-Json -Depth 8 -Compress
