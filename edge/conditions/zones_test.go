package conditions

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseGeoJSON(t *testing.T) {
	raw, err := os.ReadFile("testdata/zones.geojson")
	if err != nil {
		t.Fatal(err)
	}
	zs, err := ParseGeoJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 2 || zs[0].Name != "Suez Canal" || zs[1].Name != "Rotterdam Maasvlakte" {
		t.Fatalf("zones %+v", zs)
	}
	c, err := Config{Zones: zs}.compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	rdam := c.zones["Rotterdam Maasvlakte"]
	for _, tt := range []struct {
		lat, lon float64
		in       bool
	}{
		{51.97, 4.04, true},                                      // the berth
		{51.995, 4.105, false},                                   // in the hole
		{51.99, 4.105, true},                                     // on the hole's edge
		{51.93, 4.0, true},                                       // on the outer edge
		{51.929, 4.0, false},                                     // just outside
		{52.5, 4.0, false},                                       // north
		{-51.97, -4.04, false},                                   // the antipodes of sorts
		{51.97, 4.04 + 1, false} /* east */, {51.97, 3.95, true}, // west edge
	} {
		if got := rdam.contains(tt.lat, tt.lon); got != tt.in {
			t.Errorf("Rotterdam contains %v, %v = %v, want %v", tt.lat, tt.lon, got, tt.in)
		}
	}
}

func TestParseGeoJSONErrors(t *testing.T) {
	poly := `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`
	feature := func(props, geom string) string {
		return `{"type":"FeatureCollection","features":[{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}]}`
	}
	tests := []struct {
		name, in, want string
	}{
		{"not json", `{"type":`, "not GeoJSON"},
		{"not a collection", `{"type":"Feature"}`, `type: "Feature": want a FeatureCollection`},
		{"no name", feature(`{}`, poly), "features[0].properties.name: missing"},
		{"null properties", feature(`null`, poly), "features[0].properties.name: missing"},
		{"name not a string", feature(`{"name":7}`, poly), "features[0].properties.name: missing"},
		{"no geometry", feature(`{"name":"a"}`, `null`), `features[0].geometry: zone "a" has none`},
		{"point", feature(`{"name":"a"}`, `{"type":"Point","coordinates":[1,2]}`), `features[0].geometry.type: "Point"`},
		{"bad coordinates", feature(`{"name":"a"}`, `{"type":"Polygon","coordinates":[[["a","b"]]]}`), "features[0].geometry.coordinates: not Polygon coordinates"},
		{"out of range", feature(`{"name":"a"}`, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,95],[0,0]]]}`), "features[0].geometry.coordinates[0][2]: latitude 95"},
		{"hole too small", feature(`{"name":"a"}`, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]],[[0,0],[0,0]]]}`), "features[0].geometry.coordinates[1]: a ring needs"},
		{"empty multipolygon", feature(`{"name":"a"}`, `{"type":"MultiPolygon","coordinates":[]}`), "features[0].geometry.coordinates: no polygons"},
		{"multipolygon ring", feature(`{"name":"a"}`, `{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1]]],[[[0,0],[1,0],[200,1]]]]}`), "features[0].geometry.coordinates[1][0][2]: longitude 200"},
		{"duplicate name", `{"type":"FeatureCollection","features":[` +
			`{"type":"Feature","properties":{"name":"a"},"geometry":` + poly + `},` +
			`{"type":"Feature","properties":{"name":"a"},"geometry":` + poly + `}]}`, `features[1].properties.name: "a" is also the name of features[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGeoJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A bad zones_file is a config error naming the file and the feature.
func TestZonesFileError(t *testing.T) {
	path := t.TempDir() + "/zones.geojson"
	if err := os.WriteFile(path, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{ZonesFile: path})
	if err == nil || !strings.Contains(err.Error(), "zones_file: "+path+": features[0].geometry.type") {
		t.Errorf("error %v", err)
	}
}

func TestCircle(t *testing.T) {
	z, err := compileZone(Zone{Name: "c", Circle: &Circle{Lat: 0, Lon: 0, RadiusM: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	// One degree of latitude is 111,195 m on this sphere.
	deg := 1000 / (earthRadius * math.Pi / 180)
	if !z.contains(deg*0.999, 0) || z.contains(deg*1.001, 0) || !z.contains(0, -deg*0.999) {
		t.Error("circle boundary")
	}
	// Maasvlakte to Yangshan, by the spherical law of cosines: 9,037,410.5 m.
	if d := distanceM(51.97, 4.04, 30.6, 122.08); math.Abs(d-9_037_410.5) > 1 {
		t.Errorf("Maasvlakte–Yangshan %v m", d)
	}
}

// FuzzParseGeoJSON: never a panic; whatever parses compiles, and its zones
// answer contains.
func FuzzParseGeoJSON(f *testing.F) {
	raw, err := os.ReadFile("testdata/zones.geojson")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"type":"FeatureCollection","features":[]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1]],[[0.2,0.2],[0.4,0.2],[0.4,0.4]]]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":null}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[null, 1, "x"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		zs, err := ParseGeoJSON(data)
		if err != nil {
			return
		}
		c, err := Config{Zones: zs}.compile(nil)
		if err != nil {
			t.Fatalf("parsed zones do not compile: %v", err)
		}
		for _, z := range c.zones {
			z.contains(0, 0)
			z.contains(51.97, 4.04)
		}
	})
}
